package challenge

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"
)

// minSweep keeps small maps from being swept on every Put.
const minSweep = 64

// MemoryStore is the embedded Store: one process, lost on exit.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	records map[string]memoryRecord
	// sweepAt is the map size at which Put next purges expired records.
	// Doubling it after each sweep keeps purging amortised O(1) per Put
	// while the map never grows past about twice the live records.
	sweepAt int
}

type memoryRecord struct {
	rec     Record
	expires time.Time
}

var _ Store = (*MemoryStore)(nil)

// MemoryOption configures a MemoryStore.
type MemoryOption func(*MemoryStore)

// MemoryClock sets the clock expiry is judged by (default time.Now).
func MemoryClock(now func() time.Time) MemoryOption {
	return func(s *MemoryStore) { s.now = now }
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts ...MemoryOption) *MemoryStore {
	s := &MemoryStore{
		now:     time.Now,
		records: make(map[string]memoryRecord),
		sweepAt: minSweep,
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, key string, rec Record, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("challenge: memory put: ttl %v is not positive", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.records) >= s.sweepAt {
		s.sweep(now)
	}
	s.records[key] = memoryRecord{
		rec:     Record{Hash: clone(rec.Hash), Payload: clone(rec.Payload)},
		expires: now.Add(ttl),
	}
	return nil
}

// Attempt implements Store.
func (s *MemoryStore) Attempt(_ context.Context, key string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live(key)
	if !ok {
		return Record{}, ErrNotFound
	}
	r.rec.Attempts++
	s.records[key] = r
	return Record{Hash: clone(r.rec.Hash), Payload: clone(r.rec.Payload), Attempts: r.rec.Attempts}, nil
}

// Consume implements Store.
func (s *MemoryStore) Consume(_ context.Context, key string, hash []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.live(key)
	if !ok || subtle.ConstantTimeCompare(r.rec.Hash, hash) != 1 {
		return false, nil
	}
	delete(s.records, key)
	return true, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
	return nil
}

// live returns the record at key unless it is absent or expired, dropping
// it in the latter case. s.mu must be held.
func (s *MemoryStore) live(key string) (memoryRecord, bool) {
	r, ok := s.records[key]
	if !ok {
		return memoryRecord{}, false
	}
	if !s.now().Before(r.expires) {
		delete(s.records, key)
		return memoryRecord{}, false
	}
	return r, true
}

// sweep drops every expired record. s.mu must be held.
func (s *MemoryStore) sweep(now time.Time) {
	for k, r := range s.records {
		if !now.Before(r.expires) {
			delete(s.records, k)
		}
	}
	s.sweepAt = max(2*len(s.records), minSweep)
}

// clone copies b so callers never share a slice with the store; empty
// becomes nil, as it does in Redis.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
