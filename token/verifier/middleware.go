package verifier

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

type claimsKey struct{}

// FromContext returns the claims a Middleware or Interceptor verified.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// WithClaims returns ctx carrying c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// bearer extracts the token of an "Authorization: Bearer" header (RFC 6750
// section 2.1; the scheme is case-insensitive).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// VerifyHeader verifies the bearer token of an Authorization header value.
func (v *Verifier) VerifyHeader(h string) (*Claims, error) {
	tok, ok := bearer(h)
	if !ok {
		return nil, invalid("no bearer token")
	}
	return v.Verify(tok)
}

// Challenge is the WWW-Authenticate value of a 401 for a bad or missing
// token (RFC 6750 section 3).
const Challenge = `Bearer error="invalid_token"`

// Middleware verifies the bearer token of every request and puts the claims
// in its context; requests without a valid token get 401.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.VerifyHeader(r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", Challenge)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_token","error_description":"a valid bearer access token is required"}` + "\n"))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// Interceptor verifies the bearer token of unary Connect calls to the named
// procedures (every procedure when none is named) and puts the claims in
// the context; a bad or missing token is CodeUnauthenticated with reason
// INVALID_TOKEN and a WWW-Authenticate header.
func (v *Verifier) Interceptor(procedures ...string) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if len(procedures) > 0 && !slices.Contains(procedures, req.Spec().Procedure) {
				return next(ctx, req)
			}
			c, err := v.VerifyHeader(req.Header().Get("Authorization"))
			if err != nil {
				return nil, unauthenticated()
			}
			return next(WithClaims(ctx, c), req)
		}
	})
}

func unauthenticated() error {
	err := connect.NewError(connect.CodeUnauthenticated, errors.New("a valid bearer access token is required"))
	if d, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: "INVALID_TOKEN", Domain: "authd"}); derr == nil {
		err.AddDetail(d)
	}
	err.Meta().Set("WWW-Authenticate", Challenge)
	return err
}
