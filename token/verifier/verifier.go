// Package verifier checks authd access tokens offline. It is small on
// purpose: other Go services import it without pulling in the server (it
// needs only the standard library, go-jose and connect).
//
// A service that trusts an authd issuer builds a [RemoteKeySet], which finds
// the issuer's keys through OpenID Connect discovery and keeps them cached,
// and a [Verifier] over it, naming the same issuer and the audience its
// tokens must carry:
//
//	keys, err := verifier.NewRemoteKeySet(ctx, "https://id.example.com")
//	if err != nil {
//		return err
//	}
//	v := verifier.New(keys, "https://id.example.com", verifier.WithAudience("orders"))
//	mux.Handle("/orders/", v.Middleware(orders))
//
// [Verifier.Middleware] answers 401 to a request without a valid bearer
// token and hands the claims of a valid one to the handler through
// [FromContext]; Connect services use [Verifier.Interceptor] instead.
//
// Checking a token takes no network round trip: the key set follows the
// JWKS's Cache-Control max-age, refreshing in the background, and fetches
// at once (at most once per [WithRefetchInterval], 30 s by default) when a
// token names a key it lacks, which is how a key authd has just rotated in
// is found. authd publishes a new key for at least the JWKS cache lifetime
// before it signs with it, so that fetch is rare.
//
// A token verifies only if it is signed with RS256 or PS256 by a key the
// source already holds (never one named or carried by the token's jku,
// jwk or x5u headers), has typ at+jwt (RFC 9068), the configured issuer,
// the audience when one is required, and exp, nbf and iat that hold within
// the leeway.
package verifier

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessTokenType is the JOSE "typ" of access tokens (RFC 9068).
const AccessTokenType = "at+jwt"

// Algorithms are the only signature algorithms ever accepted: "none", HMAC
// and everything else are rejected before any key is looked at.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256}

// ErrInvalidToken is returned, wrapped with the reason, for every token that
// does not verify.
var ErrInvalidToken = errors.New("invalid access token")

// Claims are the claims of an authd access token.
type Claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope"`
	SessionID string           `json:"sid"`
	AMR       []string         `json:"amr"`
	AuthTime  *jwt.NumericDate `json:"auth_time"`
}

// HasScope reports whether scope was granted.
func (c *Claims) HasScope(scope string) bool {
	for s := range strings.FieldsSeq(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// KeySource finds a published public key by kid. Only keys the source
// already holds are used: jku, jwk and x5u headers never fetch or supply one.
type KeySource interface {
	PublicKey(kid string) (*rsa.PublicKey, bool)
}

// Verifier checks signature, type, issuer, audience and validity times.
type Verifier struct {
	keys     KeySource
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithAudience requires aud to contain audience.
func WithAudience(audience string) Option { return func(v *Verifier) { v.audience = audience } }

// WithLeeway tolerates clock skew on exp, nbf and iat (default 30s).
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// New returns a Verifier of tokens issued by issuer, signed by keys.
func New(keys KeySource, issuer string, opts ...Option) *Verifier {
	v := &Verifier{keys: keys, issuer: issuer, leeway: 30 * time.Second, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// Verify checks raw and returns its claims.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > 16<<10 {
		return nil, invalid("token too large")
	}
	tok, err := jwt.ParseSigned(raw, Algorithms)
	if err != nil {
		return nil, invalid("parse: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalid("want exactly one signature")
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, AccessTokenType) && !strings.EqualFold(typ, "application/"+AccessTokenType) {
		return nil, invalid("typ %q is not %s", typ, AccessTokenType)
	}
	if h.KeyID == "" {
		return nil, invalid("no kid")
	}
	key, ok := v.keys.PublicKey(h.KeyID)
	if !ok {
		return nil, invalid("unknown kid")
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return nil, invalid("signature: %v", err)
	}
	if c.Issuer != v.issuer {
		return nil, invalid("issuer %q", c.Issuer)
	}
	if v.audience != "" && !c.Audience.Contains(v.audience) {
		return nil, invalid("audience")
	}
	now := v.now()
	if c.Expiry == nil || now.After(c.Expiry.Time().Add(v.leeway)) {
		return nil, invalid("expired")
	}
	if c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time()) {
		return nil, invalid("not yet valid")
	}
	if c.IssuedAt != nil && now.Add(v.leeway).Before(c.IssuedAt.Time()) {
		return nil, invalid("issued in the future")
	}
	if c.Subject == "" {
		return nil, invalid("no subject")
	}
	return &c, nil
}
