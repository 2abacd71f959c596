package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
)

// secondFactors tells whether a user must present a second factor.
type secondFactors interface {
	Enabled(ctx context.Context, userID string) (bool, error)
}

// mfaTokens issues the single-use tokens of pending MFA challenges.
type mfaTokens interface {
	Issue(ctx context.Context, c challenge.MFAClaims) (string, time.Duration, error)
}

// StepUp ends every first-factor success: tokens, or, when the user has a
// second factor, an MFA challenge instead. No grant can hand out tokens to
// a TOTP user without passing here.
type StepUp struct {
	issuer  *Issuer
	factors secondFactors
	mfa     mfaTokens
	notices *Notices
}

// NewStepUp returns the first-factor completion.
func NewStepUp(issuer *Issuer, factors secondFactors, mfa mfaTokens, notices *Notices) *StepUp {
	return &StepUp{issuer: issuer, factors: factors, mfa: mfa, notices: notices}
}

// Complete answers a successful first factor (amr) for u.
func (s *StepUp) Complete(ctx context.Context, c *Client, u identity.User, scope []string, amr []string, meta RequestMeta) (*Result, error) {
	enabled, err := s.factors.Enabled(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("check second factor: %w", err)
	}
	if !enabled {
		t, err := s.issuer.Login(ctx, c, u, scope, amr, meta)
		if err != nil {
			return nil, err
		}
		s.notices.Signin(ctx, u, meta)
		return &Result{Tokens: t}, nil
	}
	if scope == nil {
		scope = slices.Clone(c.DefaultScope)
	}
	tok, ttl, err := s.mfa.Issue(ctx, challenge.MFAClaims{
		UserID: u.ID, ClientID: c.ID, AMR: amr, AuthTime: s.issuer.now(), Scope: strings.Join(scope, " "),
	})
	if err != nil {
		return nil, fmt.Errorf("issue mfa token: %w", err)
	}
	return &Result{MFA: &MFAChallenge{
		Token: tok, Factors: []string{"totp", "recovery_code"}, ExpiresIn: int32(ttl / time.Second),
	}}, nil
}
