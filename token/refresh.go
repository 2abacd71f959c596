package token

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/authd/authd/session"
)

// sessionRotator rotates a refresh token.
type sessionRotator interface {
	Refresh(ctx context.Context, token, clientID string) (session.Session, string, error)
}

// refreshGrant is RFC 6749 section 6. Its success path is the hot path: one
// store round trip (inside Refresh) and one signature.
type refreshGrant struct {
	sessions sessionRotator
	issuer   *Issuer
	users    userGetter
	guard    Guard
}

var _ Grant = (*refreshGrant)(nil)

// NewRefreshGrant returns the refresh_token grant. users is read only when
// the request asks for an ID token.
func NewRefreshGrant(sessions sessionRotator, issuer *Issuer, users userGetter, guard Guard) Grant {
	return &refreshGrant{sessions: sessions, issuer: issuer, users: users, guard: guard}
}

func (g *refreshGrant) Type() string { return GrantRefreshToken }

func (g *refreshGrant) Exchange(ctx context.Context, r *Request) (*Result, error) {
	token := r.Params.Get("refresh_token")
	if token == "" {
		return nil, errInvalidRequest.withDescription("refresh_token is required")
	}
	// The session's client is checked inside the rotation itself, so a
	// token presented by another client is not consumed.
	s, next, err := g.sessions.Refresh(ctx, token, r.Client.ID)
	switch {
	case errors.Is(err, session.ErrInvalidToken), errors.Is(err, session.ErrReused):
		// Only failures reach the limiter, per client IP: a success never
		// waits on Redis.
		if lerr := g.guard.Failure(ctx, "", r.Meta.IP); lerr != nil {
			return nil, lerr
		}
		return nil, errInvalidRefreshToken
	case err != nil:
		return nil, errServer.withCause(err)
	}
	granted := strings.Fields(s.Scope)
	scope := granted
	if r.Scope != nil {
		for _, want := range r.Scope {
			if !slices.Contains(granted, want) {
				return nil, errInvalidScope
			}
		}
		scope = r.Scope
	}
	t, err := g.issuer.mint(r.Client, s, next, scope)
	if err != nil {
		return nil, errServer.withCause(err)
	}
	// An ID token costs a user lookup and a second signature, so refresh
	// mints one only when the request asks for openid explicitly (OIDC Core
	// 12.2 makes it optional).
	if r.Scope != nil && slices.Contains(r.Scope, "openid") {
		u, err := g.users.Get(ctx, s.UserID)
		if err != nil {
			return nil, errServer.withCause(err)
		}
		if t.IDToken, err = g.issuer.idToken(r.Client, s, u, scope); err != nil {
			return nil, errServer.withCause(err)
		}
	}
	return &Result{Tokens: t}, nil
}
