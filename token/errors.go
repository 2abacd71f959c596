package token

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo detail every authd
// Connect error carries.
const ErrorDomain = "authd"

// Error is a protocol error, built once with its meaning on every surface:
// the RFC 6749 section 5.2 code and HTTP status for /token, the Connect code
// for the RPCs and REST, and a machine-readable reason for both. Description
// goes to the client; the wrapped cause only to logs.
type Error struct {
	OAuthCode   string
	Status      int
	ConnectCode connect.Code
	Reason      string
	Description string
	// RetryAfter is sent as the Retry-After header of a 429.
	RetryAfter time.Duration
	cause      error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.OAuthCode + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.OAuthCode + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.cause }

// withCause returns a copy of e that records cause for logs.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// withDescription returns a copy of e with another client-facing description.
func (e *Error) withDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

var (
	errInvalidRequest = &Error{OAuthCode: "invalid_request", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeInvalidArgument, Reason: "INVALID_REQUEST", Description: "the request is malformed"}
	errInvalidClient = &Error{OAuthCode: "invalid_client", Status: http.StatusUnauthorized,
		ConnectCode: connect.CodeUnauthenticated, Reason: "INVALID_CLIENT", Description: "client authentication failed"}
	errUnauthorizedClient = &Error{OAuthCode: "unauthorized_client", Status: http.StatusBadRequest,
		ConnectCode: connect.CodePermissionDenied, Reason: "UNAUTHORIZED_CLIENT", Description: "the client may not use this grant type"}
	errUnsupportedGrant = &Error{OAuthCode: "unsupported_grant_type", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeInvalidArgument, Reason: "UNSUPPORTED_GRANT_TYPE", Description: "unsupported grant_type"}
	errInvalidScope = &Error{OAuthCode: "invalid_scope", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeInvalidArgument, Reason: "INVALID_SCOPE", Description: "the requested scope is invalid or exceeds what was granted"}
	// One answer for unknown user, wrong password and no password, so the
	// response never tells which.
	errInvalidCredentials = &Error{OAuthCode: "invalid_grant", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeUnauthenticated, Reason: "INVALID_CREDENTIALS", Description: "invalid username or password"}
	errNotVerified = &Error{OAuthCode: "invalid_grant", Status: http.StatusBadRequest,
		ConnectCode: connect.CodePermissionDenied, Reason: "EMAIL_NOT_VERIFIED", Description: "the address has not been verified"}
	errInvalidRefreshToken = &Error{OAuthCode: "invalid_grant", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeUnauthenticated, Reason: "INVALID_REFRESH_TOKEN", Description: "the refresh token is invalid, expired or revoked"}
	errInvalidCode = &Error{OAuthCode: "invalid_grant", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeInvalidArgument, Reason: "INVALID_CODE", Description: "the code is invalid or expired"}
	errTooManyAttempts = &Error{OAuthCode: "invalid_grant", Status: http.StatusBadRequest,
		ConnectCode: connect.CodeInvalidArgument, Reason: "TOO_MANY_ATTEMPTS", Description: "too many wrong codes: request a new one"}
	errUnauthenticated = &Error{OAuthCode: "invalid_token", Status: http.StatusUnauthorized,
		ConnectCode: connect.CodeUnauthenticated, Reason: "INVALID_TOKEN", Description: "a valid bearer access token is required"}
	errServer = &Error{OAuthCode: "server_error", Status: http.StatusInternalServerError,
		ConnectCode: connect.CodeInternal, Reason: "INTERNAL", Description: "internal error"}
	errUnavailable = &Error{OAuthCode: "temporarily_unavailable", Status: http.StatusServiceUnavailable,
		ConnectCode: connect.CodeUnavailable, Reason: "UNAVAILABLE", Description: "the service is temporarily unavailable"}
)

// asError turns any error into a protocol error: an *Error in the chain is
// kept; a dependency that cannot be reached (a network error or timeout
// from PostgreSQL or Redis) is 503, so clients retry and checks fail
// closed; anything else is an internal error. Details stay in logs.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Status == http.StatusInternalServerError && unreachable(e.cause) {
			return errUnavailable.withCause(e.cause)
		}
		return e
	}
	if unreachable(err) {
		return errUnavailable.withCause(err)
	}
	return errServer.withCause(err)
}

func unreachable(err error) bool {
	var ne net.Error
	return err != nil && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded))
}

// connectError converts err for the Connect and REST surfaces, with the
// reason as a google.rpc.ErrorInfo detail.
func connectError(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	e := asError(err)
	out := connect.NewError(e.ConnectCode, errors.New(e.Description))
	if d, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: e.Reason, Domain: ErrorDomain}); derr == nil {
		out.AddDetail(d)
	}
	if e.Reason == errUnauthenticated.Reason {
		out.Meta().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if e.RetryAfter > 0 {
		out.Meta().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	return out
}

// newConnectError builds a Connect error with a reason detail, for errors
// raised directly by the RPC handlers.
func newConnectError(code connect.Code, reason, description string) error {
	return connectError(&Error{OAuthCode: "invalid_request", Status: http.StatusBadRequest,
		ConnectCode: code, Reason: reason, Description: description})
}
