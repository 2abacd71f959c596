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
	stepUp *StepUp
	guard  Guard
}

var _ Grant = (*passwordGrant)(nil)

// NewPasswordGrant returns the password grant.
func NewPasswordGrant(users passwordChecker, stepUp *StepUp, guard Guard) Grant {
	return &passwordGrant{users: users, stepUp: stepUp, guard: guard}
}

func (g *passwordGrant) Type() string { return GrantPassword }

func (g *passwordGrant) Exchange(ctx context.Context, r *Request) (*Result, error) {
	username, password := r.Params.Get("username"), r.Params.Get("password")
	if username == "" || password == "" {
		return nil, errInvalidRequest.withDescription("username and password are required")
	}
	var u identity.User
	err := g.guard.Run(ctx, loginKey(username), r.Meta.IP, func() (wrong, complete bool, err error) {
		u, err = g.users.Authenticate(ctx, username, password)
		switch {
		case errors.Is(err, identity.ErrInvalidCredentials),
			// A username that is no address cannot name an account: same answer.
			errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
			return true, false, errInvalidCredentials
		case errors.Is(err, identity.ErrNotVerified):
			return false, false, errNotVerified
		case err != nil:
			return false, false, errServer.withCause(err)
		}
		// The password was right: its own counter resets even when a second
		// factor follows, which is counted under the user's key.
		return false, true, nil
	})
	if err != nil {
		return nil, err
	}
	res, err := g.stepUp.Complete(ctx, r.Client, u, r.Scope, []string{"pwd"}, r.Meta)
	if err != nil {
		return nil, errServer.withCause(err)
	}
	return res, nil
}
