package token

import (
	"context"
	"errors"

	"github.com/authd/authd/identity"
)

// passwordChecker is what the password grant needs from identity.
type passwordChecker interface {
	Authenticate(ctx context.Context, login, password string) (identity.User, error)
}

// passwordGrant is RFC 6749 section 4.3, for first-party clients only: the
// registry must allow it per client (RFC 9700 discourages it elsewhere).
type passwordGrant struct {
	users  passwordChecker
	issuer *Issuer
}

var _ Grant = (*passwordGrant)(nil)

// NewPasswordGrant returns the password grant.
func NewPasswordGrant(users passwordChecker, issuer *Issuer) Grant {
	return &passwordGrant{users: users, issuer: issuer}
}

func (g *passwordGrant) Type() string { return GrantPassword }

func (g *passwordGrant) Exchange(ctx context.Context, r *Request) (*Result, error) {
	username, password := r.Params.Get("username"), r.Params.Get("password")
	if username == "" || password == "" {
		return nil, errInvalidRequest.withDescription("username and password are required")
	}
	u, err := g.users.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials),
		// A username that is no address cannot name an account: same answer.
		errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
		return nil, errInvalidCredentials
	case errors.Is(err, identity.ErrNotVerified):
		return nil, errNotVerified
	case err != nil:
		return nil, errServer.withCause(err)
	}
	t, err := g.issuer.Login(ctx, r.Client, u, r.Scope, []string{"pwd"}, r.Meta)
	if err != nil {
		return nil, errServer.withCause(err)
	}
	return &Result{Tokens: t}, nil
}
