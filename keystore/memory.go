package keystore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is the embedded default Store: keys live as long as the
// process, so every restart generates a new key and invalidates all tokens.
type MemoryStore struct {
	mu   sync.Mutex
	keys []StoredKey
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// ListKeys implements Store.
func (s *MemoryStore) ListKeys(context.Context) ([]StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StoredKey, len(s.keys))
	for i, k := range s.keys {
		out[i] = cloneStoredKey(k)
	}
	// Same order as the PostgreSQL store's ORDER BY created_at, kid.
	slices.SortFunc(out, func(a, b StoredKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// InsertFirstKey implements Store.
func (s *MemoryStore) InsertFirstKey(_ context.Context, k StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) > 0 {
		return ErrConflict
	}
	s.keys = append(s.keys, cloneStoredKey(k))
	return nil
}

// cloneStoredKey copies the byte slices, so neither side of the store can
// change what the other holds.
func cloneStoredKey(k StoredKey) StoredKey {
	k.PublicKey = bytes.Clone(k.PublicKey)
	k.PrivateSealed = bytes.Clone(k.PrivateSealed)
	return k
}
