package identity

import (
	"context"
	"fmt"
	"sync"
)

// MemoryStore is the embedded Store: users live in process memory and are
// lost on exit. User holds only values, so every User handed in or out is
// already a copy of the stored one.
type MemoryStore struct {
	mu      sync.Mutex
	byID    map[string]User
	byEmail map[string]string // email -> id
	byPhone map[string]string // phone -> id
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]User{}, byEmail: map[string]string{}, byPhone: map[string]string{}}
}

// CreateUser implements Store.
func (s *MemoryStore) CreateUser(_ context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[u.ID]; ok || s.addressTaken(u) {
		return fmt.Errorf("create user: %w", ErrConflict)
	}
	s.put(storedUser(u))
	return nil
}

// GetUser implements Store.
func (s *MemoryStore) GetUser(_ context.Context, id string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[id]
	if !ok {
		return User{}, fmt.Errorf("get user: %w", ErrNotFound)
	}
	return u, nil
}

// GetUserByEmail implements Store.
func (s *MemoryStore) GetUserByEmail(_ context.Context, email string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[s.byEmail[email]]
	if !ok {
		return User{}, fmt.Errorf("get user by email: %w", ErrNotFound)
	}
	return u, nil
}

// GetUserByPhone implements Store.
func (s *MemoryStore) GetUserByPhone(_ context.Context, phone string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[s.byPhone[phone]]
	if !ok {
		return User{}, fmt.Errorf("get user by phone: %w", ErrNotFound)
	}
	return u, nil
}

// UpdateUser implements Store.
func (s *MemoryStore) UpdateUser(_ context.Context, id string, fn func(*User) error) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return User{}, fmt.Errorf("update user: %w", ErrNotFound)
	}
	u := old
	if err := fn(&u); err != nil {
		return User{}, err
	}
	if err := checkUpdate(id, u); err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	if s.addressTaken(u) {
		return User{}, fmt.Errorf("update user: %w", ErrConflict)
	}
	delete(s.byEmail, old.Email)
	delete(s.byPhone, old.Phone)
	u = storedUser(u)
	s.put(u)
	return u, nil
}

// addressTaken reports whether another user holds u's email or phone.
func (s *MemoryStore) addressTaken(u User) bool {
	if id, ok := s.byEmail[u.Email]; ok && id != u.ID {
		return true
	}
	if id, ok := s.byPhone[u.Phone]; ok && id != u.ID {
		return true
	}
	return false
}

func (s *MemoryStore) put(u User) {
	s.byID[u.ID] = u
	if u.Email != "" {
		s.byEmail[u.Email] = u.ID
	}
	if u.Phone != "" {
		s.byPhone[u.Phone] = u.ID
	}
}
