package session

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// MemoryStore is the embedded Store: everything is lost on exit. Values are
// copied in and out, so callers never share memory with it.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string]Session
	tokens   map[string]RefreshToken // by string(Hash)
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		sessions: make(map[string]Session),
		tokens:   make(map[string]RefreshToken),
	}
}

func cloneSession(s Session) Session {
	s.AMR = slices.Clone(s.AMR)
	return s
}

func cloneToken(t RefreshToken) RefreshToken {
	t.Hash = bytes.Clone(t.Hash)
	return t
}

// CreateSession implements [Store].
func (m *MemoryStore) CreateSession(_ context.Context, s Session, tokenHash []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return ErrConflict
	}
	if _, ok := m.tokens[string(tokenHash)]; ok {
		return ErrConflict
	}
	m.sessions[s.ID] = cloneSession(s)
	m.tokens[string(tokenHash)] = RefreshToken{
		Hash:       bytes.Clone(tokenHash),
		SessionID:  s.ID,
		Generation: s.Generation,
		CreatedAt:  s.CreatedAt,
	}
	return nil
}

// RotateRefreshToken implements [Store].
func (m *MemoryStore) RotateRefreshToken(_ context.Context, presented, next []byte, clientID string, now time.Time, idle time.Duration) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(presented)]
	if !ok || !t.RotatedAt.IsZero() {
		return Session{}, ErrNotFound
	}
	s := m.sessions[t.SessionID]
	if !s.Active(now, idle) || s.ClientID != clientID {
		return Session{}, ErrNotFound
	}
	if _, ok := m.tokens[string(next)]; ok {
		return Session{}, ErrConflict
	}
	t.RotatedAt = now
	m.tokens[string(presented)] = t
	m.tokens[string(next)] = RefreshToken{
		Hash:       bytes.Clone(next),
		SessionID:  s.ID,
		Generation: t.Generation + 1,
		CreatedAt:  now,
	}
	s.Generation = t.Generation + 1
	s.LastUsedAt = now
	m.sessions[s.ID] = s
	return cloneSession(s), nil
}

// GetRefreshToken implements [Store].
func (m *MemoryStore) GetRefreshToken(_ context.Context, hash []byte) (RefreshToken, Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[string(hash)]
	if !ok {
		return RefreshToken{}, Session{}, ErrNotFound
	}
	return cloneToken(t), cloneSession(m.sessions[t.SessionID]), nil
}

// GetSession implements [Store].
func (m *MemoryStore) GetSession(_ context.Context, id string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	return cloneSession(s), nil
}

// ListSessions implements [Store].
func (m *MemoryStore) ListSessions(_ context.Context, userID string, now time.Time, idle time.Duration) ([]Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Session
	for _, s := range m.sessions {
		if s.UserID == userID && s.Active(now, idle) {
			out = append(out, cloneSession(s))
		}
	}
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// newestFirst orders like the postgres store: created_at DESC, id DESC.
func newestFirst(a, b Session) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// RevokeSession implements [Store].
func (m *MemoryStore) RevokeSession(_ context.Context, id, reason string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return ErrNotFound
	}
	if s.RevokedAt.IsZero() {
		s.RevokedAt = now
		s.RevokedReason = reason
		m.sessions[id] = s
	}
	return nil
}

// DeleteExpired implements [Store]. One process has nothing to share the
// work with, so it is never [ErrBusy].
func (m *MemoryStore) DeleteExpired(_ context.Context, cutoff time.Time, idle time.Duration, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	deleted := make(map[string]bool)
	for id, s := range m.sessions {
		if len(deleted) == limit {
			break
		}
		if endedBefore(s, cutoff, idle) {
			deleted[id] = true
			delete(m.sessions, id)
		}
	}
	if len(deleted) > 0 {
		for h, t := range m.tokens {
			if deleted[t.SessionID] {
				delete(m.tokens, h)
			}
		}
	}
	return len(deleted), nil
}

// endedBefore reports whether s stopped being refreshable before cutoff,
// the condition of the postgres store's clean-up.
func endedBefore(s Session, cutoff time.Time, idle time.Duration) bool {
	return s.ExpiresAt.Before(cutoff) ||
		(!s.RevokedAt.IsZero() && s.RevokedAt.Before(cutoff)) ||
		(idle > 0 && s.LastUsedAt.Add(idle).Before(cutoff))
}
