package challenge

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LimitMemoryStore is the embedded LimitStore: one process, lost on exit.
// Several authd instances on memory stores each count on their own, which
// is why production requires Redis.
type LimitMemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]limitEntry
	// sweepAt works as in MemoryStore: an attacker who cycles through
	// accounts or addresses creates a counter per name, and those must not
	// outlive their windows in memory.
	sweepAt int
}

// limitEntry is a counter or a lock (count 1, as in Redis).
type limitEntry struct {
	count   int64
	expires time.Time
}

var _ LimitStore = (*LimitMemoryStore)(nil)

// LimitMemoryOption configures a LimitMemoryStore.
type LimitMemoryOption func(*LimitMemoryStore)

// LimitMemoryClock sets the clock windows and locks are judged by (default
// time.Now).
func LimitMemoryClock(now func() time.Time) LimitMemoryOption {
	return func(s *LimitMemoryStore) { s.now = now }
}

// NewLimitMemoryStore returns an empty LimitMemoryStore.
func NewLimitMemoryStore(opts ...LimitMemoryOption) *LimitMemoryStore {
	s := &LimitMemoryStore{
		now:     time.Now,
		entries: make(map[string]limitEntry),
		sweepAt: minSweep,
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Hit implements LimitStore.
func (s *LimitMemoryStore) Hit(_ context.Context, key string, limit int64, window time.Duration) (LimitEntry, bool, error) {
	if err := checkHit(limit, window); err != nil {
		return LimitEntry{}, false, fmt.Errorf("challenge: limit memory hit: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.live(key, now)
	if !ok {
		e = limitEntry{expires: now.Add(window)}
	}
	if e.count >= limit {
		return LimitEntry{Count: e.count, TTL: e.expires.Sub(now)}, false, nil
	}
	e.count++
	s.put(key, e, now)
	return LimitEntry{Count: e.count, TTL: e.expires.Sub(now)}, true, nil
}

// Unhit implements LimitStore.
func (s *LimitMemoryStore) Unhit(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key, s.now())
	if !ok {
		return nil
	}
	if e.count > 1 {
		e.count--
		s.entries[key] = e
	} else {
		delete(s.entries, key)
	}
	return nil
}

// Get implements LimitStore.
func (s *LimitMemoryStore) Get(_ context.Context, keys ...string) ([]LimitEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]LimitEntry, len(keys))
	for i, k := range keys {
		if e, ok := s.live(k, now); ok {
			out[i] = LimitEntry{Count: e.count, TTL: e.expires.Sub(now)}
		}
	}
	return out, nil
}

// Lock implements LimitStore.
func (s *LimitMemoryStore) Lock(_ context.Context, key string, d time.Duration) error {
	if err := checkLock(d); err != nil {
		return fmt.Errorf("challenge: limit memory lock: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	until := now.Add(d)
	if e, ok := s.live(key, now); ok && !e.expires.Before(until) {
		return nil
	}
	s.put(key, limitEntry{count: 1, expires: until}, now)
	return nil
}

// Reset implements LimitStore.
func (s *LimitMemoryStore) Reset(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.entries, k)
	}
	return nil
}

// live returns the entry at key unless it is absent or expired, dropping it
// in the latter case. s.mu must be held.
func (s *LimitMemoryStore) live(key string, now time.Time) (limitEntry, bool) {
	e, ok := s.entries[key]
	if !ok {
		return limitEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(s.entries, key)
		return limitEntry{}, false
	}
	return e, true
}

// put writes e at key, first purging expired entries when the map has
// grown enough for that to be worth it. s.mu must be held.
func (s *LimitMemoryStore) put(key string, e limitEntry, now time.Time) {
	if len(s.entries) >= s.sweepAt {
		for k, old := range s.entries {
			if !now.Before(old.expires) {
				delete(s.entries, k)
			}
		}
		s.sweepAt = max(2*len(s.entries), minSweep)
	}
	s.entries[key] = e
}
