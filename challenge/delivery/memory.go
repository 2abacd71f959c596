package delivery

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore is the embedded Store: one process, lost on exit. One mutex
// makes every method atomic, which gives Claim the exclusivity FOR UPDATE
// SKIP LOCKED gives the PostgreSQL store. Rows are copied in and out, so
// callers never share memory with the store.
type MemoryStore struct {
	mu   sync.Mutex
	rows map[string]Row
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{rows: make(map[string]Row)}
}

// Enqueue implements [Store].
func (s *MemoryStore) Enqueue(_ context.Context, r Row) error {
	if err := checkEnqueue(r); err != nil {
		return fmt.Errorf("delivery: enqueue: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[r.ID]; ok {
		return ErrConflict
	}
	s.rows[r.ID] = cloneRow(r)
	return nil
}

// Claim implements [Store].
func (s *MemoryStore) Claim(_ context.Context, now time.Time, limit int, lease time.Duration) ([]Row, error) {
	if limit < 1 || lease <= 0 {
		return nil, fmt.Errorf("delivery: claim: limit %d and lease %v must be positive", limit, lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []Row
	for _, r := range s.rows {
		if r.Status == StatusPending && !r.NextAttemptAt.After(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b Row) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	due = due[:min(limit, len(due))]
	for i, r := range due {
		r.Attempts++
		r.NextAttemptAt = now.Add(lease)
		r.UpdatedAt = now
		s.rows[r.ID] = r
		due[i] = cloneRow(r)
	}
	return due, nil
}

// MarkSent implements [Store].
func (s *MemoryStore) MarkSent(_ context.Context, id string, now time.Time) error {
	return s.update(canonicalID(id), -1, func(r *Row) {
		r.Status, r.SentAt, r.VariablesSealed = StatusSent, now, nil
		r.UpdatedAt = now
	})
}

// MarkRetry implements [Store].
func (s *MemoryStore) MarkRetry(_ context.Context, id string, attempt int, next time.Time, lastError string, now time.Time) error {
	return s.update(canonicalID(id), attempt, func(r *Row) {
		r.NextAttemptAt, r.LastError, r.UpdatedAt = next, lastError, now
	})
}

// MarkAbandoned implements [Store].
func (s *MemoryStore) MarkAbandoned(_ context.Context, id string, attempt int, lastError string, now time.Time) error {
	return s.update(canonicalID(id), attempt, func(r *Row) {
		r.Status, r.LastError, r.UpdatedAt = StatusAbandoned, lastError, now
	})
}

// update applies fn to the pending row id if its attempt count is attempt
// (any count when attempt is -1).
func (s *MemoryStore) update(id string, attempt int, fn func(*Row)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[id]
	if !ok || r.Status != StatusPending || (attempt != -1 && r.Attempts != attempt) {
		return ErrLeaseLost
	}
	fn(&r)
	s.rows[id] = r
	return nil
}

// List implements [Store].
func (s *MemoryStore) List(_ context.Context, status Status, limit int) ([]Row, error) {
	if err := checkList(status, limit); err != nil {
		return nil, fmt.Errorf("delivery: list: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Row
	for _, r := range s.rows {
		if status == "" || r.Status == status {
			out = append(out, cloneRow(r))
		}
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(limit, len(out))], nil
}

// Retry implements [Store].
func (s *MemoryStore) Retry(_ context.Context, ids []string, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reset := func(id string) int {
		r, ok := s.rows[id]
		if !ok || r.Status == StatusSent || (len(ids) == 0 && r.Status != StatusAbandoned) {
			return 0
		}
		r.Status, r.Attempts, r.NextAttemptAt, r.UpdatedAt = StatusPending, 0, now, now
		s.rows[id] = r
		return 1
	}
	n := 0
	if len(ids) == 0 {
		for id := range s.rows {
			n += reset(id)
		}
		return n, nil
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id = canonicalID(id); !seen[id] {
			seen[id] = true
			n += reset(id)
		}
	}
	return n, nil
}

// Purge implements [Store].
func (s *MemoryStore) Purge(_ context.Context, status Status, before time.Time) (int, error) {
	if err := checkPurge(status); err != nil {
		return 0, fmt.Errorf("delivery: purge: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.rows {
		if r.Status == status && r.UpdatedAt.Before(before) {
			delete(s.rows, id)
			n++
		}
	}
	return n, nil
}

// Stats implements [Store].
func (s *MemoryStore) Stats(_ context.Context, now time.Time) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		st     Stats
		oldest time.Time
	)
	for _, r := range s.rows {
		switch r.Status {
		case StatusPending:
			st.Pending++
			if oldest.IsZero() || r.CreatedAt.Before(oldest) {
				oldest = r.CreatedAt
			}
		case StatusAbandoned:
			st.Abandoned++
		}
	}
	if st.Pending > 0 {
		st.OldestPendingAge = max(now.Sub(oldest), 0)
	}
	return st, nil
}

func cloneRow(r Row) Row {
	r.VariablesSealed = bytes.Clone(r.VariablesSealed)
	return r
}
