package keystore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is the embedded default Store: keys live as long as the
// process, so every restart generates a new key and invalidates all tokens.
type MemoryStore struct {
	mu   sync.Mutex // also the UpdateKeys lock
	keys []StoredKey
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// ListKeys implements Store.
func (s *MemoryStore) ListKeys(context.Context) ([]StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list(), nil
}

func (s *MemoryStore) list() []StoredKey {
	out := cloneStoredKeys(s.keys)
	// Same order as the PostgreSQL store's ORDER BY created_at, kid.
	slices.SortFunc(out, func(a, b StoredKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out
}

// UpdateKeys implements Store.
func (s *MemoryStore) UpdateKeys(_ context.Context, fn func([]StoredKey) ([]StoredKey, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.list()
	after, err := fn(s.list())
	if err != nil {
		return err
	}
	c, err := diffKeys(before, after)
	if err != nil {
		return err
	}
	if !c.empty() {
		s.keys = cloneStoredKeys(after)
	}
	return nil
}
