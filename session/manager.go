package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/authd/authd/internal/random"
)

// Errors of the Manager. Both mean the presented refresh token buys nothing
// (invalid_grant); they are told apart because reuse is worth an alert.
var (
	// ErrInvalidToken: unknown, malformed, expired or revoked.
	ErrInvalidToken = errors.New("session: invalid refresh token")
	// ErrReused: a rotated token was presented outside the grace window; its
	// whole family has been revoked.
	ErrReused = errors.New("session: refresh token reused")
)

const (
	// DefaultLifetime is how long a session can be refreshed, counted from
	// its start: rotation never extends it.
	DefaultLifetime = 7 * 24 * time.Hour
	// DefaultReuseGrace is how long after a rotation the rotated token is
	// still taken as a client's retry rather than theft.
	DefaultReuseGrace = 10 * time.Second

	// MinSecretLen is the shortest accepted derivation secret: the successor
	// of a token must be as hard to guess as the token itself.
	MinSecretLen = 32

	tokenBytes = 32
	// maxTokenLen bounds what is hashed and sent to the store; real tokens
	// are 43 bytes.
	maxTokenLen = 512
)

// Manager issues, rotates and revokes refresh-token sessions on a Store.
// It is safe for concurrent use.
type Manager struct {
	store    Store
	secret   []byte
	lifetime time.Duration
	grace    time.Duration
	idle     time.Duration
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
}

// Option configures a Manager.
type Option func(*Manager)

// WithLifetime sets how long a session lasts from its start
// (default [DefaultLifetime]).
func WithLifetime(d time.Duration) Option { return func(m *Manager) { m.lifetime = d } }

// WithReuseGrace sets the window after a rotation in which presenting the
// rotated token returns the family's live token instead of revoking the
// family (default [DefaultReuseGrace]; 0 disables it).
func WithReuseGrace(d time.Duration) Option { return func(m *Manager) { m.grace = d } }

// WithIdleTimeout ends a session that has not been refreshed for d: its
// token is then refused like an expired one (not as reuse, and without
// revoking it), it is no longer listed, and clean-up counts it as ended
// from then. The session's lifetime still bounds it, however often it is
// used. 0 (the default) disables the timeout.
func WithIdleTimeout(d time.Duration) Option { return func(m *Manager) { m.idle = d } }

// WithLogger sets where [Manager.RunCleanup] reports (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// WithRandom replaces the source of session ids and tokens
// (default crypto/rand).
func WithRandom(r io.Reader) Option { return func(m *Manager) { m.rand = r } }

// NewManager returns a Manager on store. secret keys the derivation of
// successor tokens: at least [MinSecretLen] random bytes, the same on every
// instance. Changing it only costs clients whose retry lands in the grace
// window across the change (they get [ErrInvalidToken]).
func NewManager(store Store, secret []byte, opts ...Option) (*Manager, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("session: secret is %d bytes, need at least %d", len(secret), MinSecretLen)
	}
	m := &Manager{
		store:    store,
		secret:   slices.Clone(secret),
		lifetime: DefaultLifetime,
		grace:    DefaultReuseGrace,
		now:      time.Now,
		log:      slog.Default(),
	}
	for _, o := range opts {
		o(m)
	}
	if m.lifetime <= 0 {
		return nil, fmt.Errorf("session: lifetime %v is not positive", m.lifetime)
	}
	if m.grace < 0 {
		return nil, fmt.Errorf("session: reuse grace %v is negative", m.grace)
	}
	if m.idle < 0 {
		return nil, fmt.Errorf("session: idle timeout %v is negative", m.idle)
	}
	if m.log == nil {
		return nil, errors.New("session: nil logger")
	}
	return m, nil
}

// LogValue keeps the derivation secret out of logs while still showing the
// configuration.
func (m *Manager) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("lifetime", m.lifetime), slog.Duration("reuse_grace", m.grace),
		slog.Duration("idle_timeout", m.idle))
}

// clock truncates to the microsecond PostgreSQL keeps, so a Session returned
// by Start or Refresh equals the one read back later from any store (Start
// truncates AuthTime for the same reason).
func (m *Manager) clock() time.Time {
	return m.now().Truncate(time.Microsecond)
}

// Params describe the login a session starts from.
type Params struct {
	UserID    string
	ClientID  string
	Scope     string
	AMR       []string
	AuthTime  time.Time
	UserAgent string
	IP        string
	// TTL overrides the manager's lifetime for this session (a client's own
	// refresh-token lifetime); zero keeps the default.
	TTL time.Duration
}

// Start opens a new session and returns it with its first refresh token.
func (m *Manager) Start(ctx context.Context, p Params) (Session, string, error) {
	lifetime := m.lifetime
	if p.TTL > 0 {
		lifetime = p.TTL
	}
	id, err := random.UUID(m.rand)
	if err != nil {
		return Session{}, "", fmt.Errorf("start session: %w", err)
	}
	token, err := random.Token(m.rand, tokenBytes)
	if err != nil {
		return Session{}, "", fmt.Errorf("start session: %w", err)
	}
	now := m.clock()
	s := Session{
		ID:         id,
		UserID:     p.UserID,
		ClientID:   p.ClientID,
		Scope:      p.Scope,
		AMR:        slices.Clone(p.AMR),
		AuthTime:   p.AuthTime.Truncate(time.Microsecond),
		UserAgent:  p.UserAgent,
		IP:         p.IP,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(lifetime),
	}
	if err := m.store.CreateSession(ctx, s, hashToken(token)); err != nil {
		return Session{}, "", fmt.Errorf("start session: %w", err)
	}
	return s, token, nil
}

// Revoke ends the session of token (logout, RFC 7009). Any token of the
// family will do, and unknown or already revoked tokens are not an error, so
// Lookup returns the session of any refresh token it ever issued, live or
// rotated, with that token's record: /revoke and /introspect need both.
// Anything else is ErrInvalidToken.
func (m *Manager) Lookup(ctx context.Context, token string) (Session, RefreshToken, error) {
	if len(token) == 0 || len(token) > maxTokenLen {
		return Session{}, RefreshToken{}, ErrInvalidToken
	}
	rec, s, err := m.store.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Session{}, RefreshToken{}, ErrInvalidToken
	}
	if err != nil {
		return Session{}, RefreshToken{}, fmt.Errorf("look up refresh token: %w", err)
	}
	return s, rec, nil
}

// Live reports whether s can still be refreshed now: not revoked, not past
// its lifetime, not idle.
func (m *Manager) Live(s Session) bool { return s.Active(m.clock(), m.idle) }

// that revocation is idempotent and reveals nothing.
func (m *Manager) Revoke(ctx context.Context, token string) error {
	if len(token) == 0 || len(token) > maxTokenLen {
		return nil
	}
	_, s, err := m.store.GetRefreshToken(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	err = m.store.RevokeSession(ctx, s.ID, "logout", m.clock())
	if err != nil && !errors.Is(err, ErrNotFound) { // deleted meanwhile: as good as revoked
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	return nil
}

// RevokeSession ends session id with reason ("logout", "reuse", "revoked").
// Revoking a revoked session keeps the first reason; an unknown id is
// [ErrNotFound].
func (m *Manager) RevokeSession(ctx context.Context, id, reason string) error {
	if err := m.store.RevokeSession(ctx, id, reason, m.clock()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// Get returns session id, revoked or not, or [ErrNotFound].
func (m *Manager) Get(ctx context.Context, id string) (Session, error) {
	s, err := m.store.GetSession(ctx, id)
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	return s, nil
}

// List returns the user's active sessions, newest first; idle ones are
// not active.
func (m *Manager) List(ctx context.Context, userID string) ([]Session, error) {
	ss, err := m.store.ListSessions(ctx, userID, m.clock(), m.idle)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}
