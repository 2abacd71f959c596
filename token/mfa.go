package token

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
)

// mfaChallenges runs the pending challenge of an mfa_token.
type mfaChallenges interface {
	Begin(ctx context.Context, token string) (challenge.MFAClaims, error)
	Complete(ctx context.Context, token string) error
}

// factorChecker checks a second factor; each code is accepted once.
type factorChecker interface {
	VerifyTOTP(ctx context.Context, userID, code string) error
	UseRecoveryCode(ctx context.Context, userID, code string) error
}

// mfaGrant completes an MFA challenge with a TOTP or recovery code
// (urn:authd:params:oauth:grant-type:mfa-otp). Email and SMS codes are
// never accepted here: they prove an address, not a second factor.
type mfaGrant struct {
	challenges mfaChallenges
	factors    factorChecker
	users      userGetter
	issuer     *Issuer
	guard      Guard
	notices    *Notices
}

var _ Grant = (*mfaGrant)(nil)

// NewMFAGrant returns the second-factor grant.
func NewMFAGrant(challenges mfaChallenges, factors factorChecker, users userGetter, issuer *Issuer, guard Guard, notices *Notices) Grant {
	return &mfaGrant{challenges: challenges, factors: factors, users: users, issuer: issuer, guard: guard, notices: notices}
}

func (g *mfaGrant) Type() string { return GrantMFAOTP }

var errInvalidMFAToken = errInvalidCode.withDescription("the mfa_token is invalid, used or expired")

func (g *mfaGrant) Exchange(ctx context.Context, r *Request) (*Result, error) {
	tok, otp, recovery := r.Params.Get("mfa_token"), r.Params.Get("otp"), r.Params.Get("recovery_code")
	if tok == "" || (otp == "") == (recovery == "") {
		return nil, errInvalidRequest.withDescription("mfa_token and exactly one of otp or recovery_code are required")
	}
	claims, err := g.challenges.Begin(ctx, tok)
	switch {
	case errors.Is(err, challenge.ErrInvalidMFAToken):
		return nil, errInvalidMFAToken
	case err != nil:
		return nil, errServer.withCause(err)
	}
	// The challenge belongs to the client that started the login.
	if claims.ClientID != r.Client.ID {
		return nil, errInvalidMFAToken
	}
	amr := append(claims.AMR, "mfa")
	if otp != "" {
		amr = append(amr, "otp")
	}
	err = g.guard.Run(ctx, userKey(claims.UserID), r.Meta.IP, func() (wrong, complete bool, err error) {
		if otp != "" {
			err = g.factors.VerifyTOTP(ctx, claims.UserID, otp)
		} else {
			err = g.factors.UseRecoveryCode(ctx, claims.UserID, recovery)
		}
		if err != nil {
			e := codeError(err)
			return e.Status < 500, false, e
		}
		return false, true, nil
	})
	if err != nil {
		return nil, err
	}
	if err := g.challenges.Complete(ctx, tok); err != nil {
		if errors.Is(err, challenge.ErrInvalidMFAToken) {
			return nil, errInvalidMFAToken
		}
		return nil, errServer.withCause(err)
	}
	u, err := g.users.Get(ctx, claims.UserID)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, errInvalidMFAToken
	}
	if err != nil {
		return nil, errServer.withCause(err)
	}
	scope := strings.Fields(claims.Scope)
	t, err := g.issuer.Login(ctx, r.Client, u, scope, dedupe(amr), r.Meta)
	if err != nil {
		return nil, errServer.withCause(err)
	}
	g.notices.Signin(ctx, u, r.Meta)
	return &Result{Tokens: t}, nil
}

// dedupe keeps the first occurrence of each method.
func dedupe(amr []string) []string {
	out := amr[:0:0]
	for _, m := range amr {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
