package session

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	ErrNotFound = errors.New("session: not found")
	ErrConflict = errors.New("session: already exists")
)

// Session is one refresh-token family: everything a refresh needs to mint
// new tokens without looking anything else up.
type Session struct {
	ID         string
	UserID     string
	ClientID   string
	Scope      string   // space-separated, as granted
	AMR        []string // authentication methods of the original login
	AuthTime   time.Time
	Generation int // generation of the family's live refresh token
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // zero while the session is live
	// RevokedReason says why: "logout", "reuse", "revoked".
	RevokedReason string
}

// Active reports whether the session can still be refreshed at now.
func (s *Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// RefreshToken is the stored record of one issued refresh token.
type RefreshToken struct {
	Hash       []byte // SHA-256 of the token
	SessionID  string
	Generation int
	CreatedAt  time.Time
	RotatedAt  time.Time // zero while the token is the family's live one
}

// Store persists sessions and the hashes of their refresh tokens.
// Implementations: memory (embedded default) and postgres; both pass
// sessiontest.Run.
type Store interface {
	// CreateSession inserts s with its first refresh token (generation 0).
	// ErrConflict when the id or hash exists.
	CreateSession(ctx context.Context, s Session, tokenHash []byte) error

	// RotateRefreshToken is the hot path and must be one round trip: if
	// presented is the live token of an active session (not rotated, session
	// not revoked, now before ExpiresAt), it marks it rotated at now, stores
	// next as generation+1, bumps the session's Generation and LastUsedAt,
	// and returns the updated session. Otherwise it changes nothing it need
	// not and returns ErrNotFound. Of many concurrent calls with the same
	// presented hash, at most one succeeds.
	RotateRefreshToken(ctx context.Context, presented, next []byte, now time.Time) (Session, error)

	// GetRefreshToken returns the token record with that hash and its
	// session, or ErrNotFound. Used on the (rare) failure path to tell a
	// replay within the grace window from reuse.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, Session, error)

	// GetSession returns the session with id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)

	// ListSessions returns the user's sessions that are active at now,
	// newest first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)

	// RevokeSession marks the session revoked at now with reason. Revoking a
	// revoked session keeps the first revocation and returns nil;
	// ErrNotFound when there is no such session.
	RevokeSession(ctx context.Context, id, reason string, now time.Time) error

	// DeleteExpired deletes sessions (and their tokens) that expired or were
	// revoked before cutoff, and returns how many.
	DeleteExpired(ctx context.Context, cutoff time.Time) (int, error)
}
