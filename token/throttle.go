package token

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
)

// credentialLimiter counts credential checks per account and client IP.
// Check counts the attempt before the credential is looked at, so parallel
// guesses cannot all slip through.
type credentialLimiter interface {
	Check(ctx context.Context, account, ip string) (challenge.Decision, error)
	Failure(ctx context.Context, account, ip string) (challenge.Decision, error)
	Success(ctx context.Context, account, ip string) error
}

// sendLimiter limits messages per destination and client IP.
type sendLimiter interface {
	Allow(ctx context.Context, destination, ip string) (challenge.Decision, error)
}

var errRateLimited = &Error{OAuthCode: "slow_down", Status: http.StatusTooManyRequests,
	ConnectCode: connect.CodeResourceExhausted, Reason: "RATE_LIMITED", Description: "too many attempts: retry later"}

// refused turns a limiter answer into an error: nil when allowed, 429 with
// Retry-After when not, and 503 when the limiter cannot answer, because
// credential checks fail closed, never unlimited.
func refused(d challenge.Decision, err error) error {
	if err != nil {
		return errUnavailable.withCause(fmt.Errorf("rate limiter: %w", err))
	}
	if d.Allowed {
		return nil
	}
	e := *errRateLimited
	e.RetryAfter = d.RetryAfter
	return &e
}

// Guard runs a credential check under the limiter.
type Guard struct {
	limits credentialLimiter
}

// NewGuard returns a Guard on limits.
func NewGuard(limits credentialLimiter) Guard { return Guard{limits: limits} }

// Run checks the limits for (account, ip), runs check, and records its
// outcome: a failure when check reports a wrong credential (wrong true), a
// success when complete is true. Errors of check are returned as they are.
func (g Guard) Run(ctx context.Context, account, ip string, check func() (wrong, complete bool, err error)) error {
	if err := refused(g.limits.Check(ctx, account, ip)); err != nil {
		return err
	}
	wrong, complete, err := check()
	switch {
	case wrong:
		if lerr := refused(g.limits.Failure(ctx, account, ip)); lerr != nil && asError(lerr).Status == http.StatusServiceUnavailable {
			return lerr
		}
	case complete && err == nil:
		if lerr := g.limits.Success(ctx, account, ip); lerr != nil {
			return errUnavailable.withCause(fmt.Errorf("rate limiter: %w", lerr))
		}
	}
	return err
}

// Failure records one wrong credential that was checked without Run (the
// refresh grant keeps its success path off the limiter) and returns the
// 429 once the limit is reached. The limiter counts attempts in Check, so
// a failure recorded afterwards must be counted there first.
func (g Guard) Failure(ctx context.Context, account, ip string) error {
	if err := refused(g.limits.Check(ctx, account, ip)); err != nil {
		return err
	}
	return refused(g.limits.Failure(ctx, account, ip))
}

// loginKey is the limiter account of a first-factor login: the normalised
// address whether or not an account has it, so limits reveal nothing.
func loginKey(login string) string {
	login = strings.TrimSpace(login)
	if strings.Contains(login, "@") {
		if e, err := identity.NormalizeEmail(login); err == nil {
			return "login:" + e
		}
	} else if p, err := identity.NormalizePhone(login); err == nil {
		return "login:" + p
	}
	if len(login) > 256 {
		login = login[:256]
	}
	return "login:" + strings.ToLower(login)
}

// userKey is the limiter account of checks made for a known user (second
// factors): separate from loginKey, so a right password never resets the
// count of TOTP guesses.
func userKey(id string) string { return "user:" + id }

// retryAfterSeconds rounds up, so a client never retries too early.
func retryAfterSeconds(d time.Duration) string {
	return fmt.Sprint(int64((d + time.Second - 1) / time.Second))
}
