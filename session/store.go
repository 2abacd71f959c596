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
	// ErrBusy: another instance is deleting expired sessions right now.
	ErrBusy = errors.New("session: clean-up running elsewhere")
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

// Active reports whether the session can still be refreshed at now: not
// revoked, before ExpiresAt and, when idle is positive, used less than idle
// ago. idle is the Manager's idle timeout, which is configuration rather
// than part of the session, so that changing it applies to every session.
func (s *Session) Active(now time.Time, idle time.Duration) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && (idle <= 0 || now.Before(s.LastUsedAt.Add(idle)))
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
	// presented is the live token of a session that is Active(now, idle)
	// and belongs to clientID, it marks it rotated at now, stores next as
	// generation+1, bumps the session's Generation and LastUsedAt, and
	// returns the updated session. Otherwise it returns ErrNotFound and
	// leaves the presented token live, so that another client presenting a
	// stolen token cannot burn it (a revocation committed while the call
	// runs may still leave it marked rotated: revocation is final anyway).
	// Of many concurrent calls with the same presented hash, at most one
	// succeeds.
	RotateRefreshToken(ctx context.Context, presented, next []byte, clientID string, now time.Time, idle time.Duration) (Session, error)

	// GetRefreshToken returns the token record with that hash and its
	// session, or ErrNotFound. Used on the (rare) failure path to tell a
	// replay within the grace window from reuse.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, Session, error)

	// GetSession returns the session with id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)

	// ListSessions returns the user's sessions that are Active(now, idle),
	// newest first.
	ListSessions(ctx context.Context, userID string, now time.Time, idle time.Duration) ([]Session, error)

	// RevokeSession marks the session revoked at now with reason. Revoking a
	// revoked session keeps the first revocation and returns nil;
	// ErrNotFound when there is no such session.
	RevokeSession(ctx context.Context, id, reason string, now time.Time) error

	// DeleteExpired deletes at most limit (> 0) sessions, with all their
	// tokens, that stopped being refreshable before cutoff: ExpiresAt,
	// RevokedAt or, when idle is positive, LastUsedAt+idle before cutoff.
	// It returns how many it deleted; fewer than limit means none is left.
	// Each call is its own transaction, so a clean-up of any size never
	// holds one long. A store shared by instances lets one call run at a
	// time and returns ErrBusy, having deleted nothing, to the others.
	DeleteExpired(ctx context.Context, cutoff time.Time, idle time.Duration, limit int) (int, error)
}
