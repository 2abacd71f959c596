package token

import (
	"context"
	"errors"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
)

// userLookup finds a user by email or phone.
type userLookup interface {
	Lookup(ctx context.Context, login string) (identity.User, error)
}

// otpGrant exchanges a login code sent by RequestOTP
// (urn:authd:params:oauth:grant-type:otp). A code proves the address, so it
// is a first factor only: a TOTP user still gets an MFA challenge.
type otpGrant struct {
	users  userLookup
	codes  codes
	stepUp *StepUp
	guard  Guard
}

var _ Grant = (*otpGrant)(nil)

// NewOTPGrant returns the one-time-code grant.
func NewOTPGrant(users userLookup, codes codes, stepUp *StepUp, guard Guard) Grant {
	return &otpGrant{users: users, codes: codes, stepUp: stepUp, guard: guard}
}

func (g *otpGrant) Type() string { return GrantOTP }

func (g *otpGrant) Exchange(ctx context.Context, r *Request) (*Result, error) {
	username, code := r.Params.Get("username"), r.Params.Get("otp")
	if username == "" || code == "" {
		return nil, errInvalidRequest.withDescription("username and otp are required")
	}
	u, err := checkCode(ctx, g.guard, g.users, g.codes, challenge.PurposeLogin, username, code, r.Meta.IP)
	if err != nil {
		return nil, err
	}
	return g.stepUp.Complete(ctx, r.Client, u, r.Scope, []string{"otp"}, r.Meta)
}

// checkCode verifies a code sent to login for purpose, under the limiter.
// An unknown address answers like a wrong code: nothing tells whether it
// exists.
func checkCode(ctx context.Context, guard Guard, users userLookup, codes codes, purpose challenge.Purpose, login, code, ip string) (identity.User, error) {
	var u identity.User
	err := guard.Run(ctx, loginKey(login), ip, func() (wrong, complete bool, err error) {
		u, err = users.Lookup(ctx, login)
		switch {
		case errors.Is(err, identity.ErrNotFound), errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
			return true, false, errInvalidCode
		case err != nil:
			return false, false, errServer.withCause(err)
		}
		if _, err := codes.Verify(ctx, purpose, u.ID, code); err != nil {
			e := codeError(err)
			return e.Status < 500, false, e
		}
		return false, true, nil
	})
	return u, err
}
