package verifier_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/token/verifier"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type keys map[string]*rsa.PublicKey

func (k keys) PublicKey(kid string) (*rsa.PublicKey, bool) { p, ok := k[kid]; return p, ok }

const issuer = "https://id.example.com"

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// otherKey signs as authd's next key in rotation tests, and as an attacker's
// key elsewhere.
var otherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func sign(t testing.TB, alg jose.SignatureAlgorithm, kid, typ string, c verifier.Claims) string {
	t.Helper()
	return signWith(t, testKey(), alg, kid, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)), c)
}

func signWith(t testing.TB, key *rsa.PrivateKey, alg jose.SignatureAlgorithm, kid string, opts *jose.SignerOptions, c verifier.Claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(mod func(*verifier.Claims)) verifier.Claims {
	c := verifier.Claims{
		Issuer: issuer, Subject: "user-1", Audience: jwt.Audience{"api"},
		Expiry: jwt.NewNumericDate(t0.Add(15 * time.Minute)), IssuedAt: jwt.NewNumericDate(t0),
		ID: "jti", ClientID: "authd", Scope: "email profile", SessionID: "s1", AMR: []string{"pwd"},
		AuthTime: jwt.NewNumericDate(t0),
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

func TestVerify(t *testing.T) {
	ks := keys{"k1": &testKey().PublicKey}
	for _, tc := range []struct {
		name  string
		tok   func(t *testing.T) string
		now   time.Time
		opts  []verifier.Option
		valid bool
	}{
		{"valid", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0.Add(time.Minute), nil, true},
		{"valid PS256", func(t *testing.T) string { return sign(t, jose.PS256, "k1", "at+jwt", claims(nil)) }, t0, nil, true},
		{"expired", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0.Add(16 * time.Minute), nil, false},
		{"expired within leeway", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0.Add(15*time.Minute + 20*time.Second), nil, true},
		{"no exp", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.Expiry = nil }))
		}, t0, nil, false},
		{"not yet valid", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) }))
		}, t0, nil, false},
		{"issued in the future", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Hour)) }))
		}, t0, nil, false},
		{"wrong issuer", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.Issuer = "https://evil.example.com" }))
		}, t0, nil, false},
		{"no subject", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.Subject = "" }))
		}, t0, nil, false},
		{"wrong typ", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "JWT", claims(nil)) }, t0, nil, false},
		{"unknown kid", func(t *testing.T) string { return sign(t, jose.RS256, "k2", "at+jwt", claims(nil)) }, t0, nil, false},
		{"RS384 not allowed", func(t *testing.T) string { return sign(t, jose.RS384, "k1", "at+jwt", claims(nil)) }, t0, nil, false},
		{"audience required and present", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0, []verifier.Option{verifier.WithAudience("api")}, true},
		{"audience required and absent", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0, []verifier.Option{verifier.WithAudience("other")}, false},
		{"typ application/at+jwt", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "application/at+jwt", claims(nil)) }, t0, nil, true},
		{"no typ", func(t *testing.T) string {
			return signWith(t, testKey(), jose.RS256, "k1", &jose.SignerOptions{}, claims(nil))
		}, t0, nil, false},
		{"no kid", func(t *testing.T) string { return sign(t, jose.RS256, "", "at+jwt", claims(nil)) }, t0, nil, false},
		{"not yet valid within leeway", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(20 * time.Second)) }))
		}, t0, nil, true},
		{"expired beyond a smaller leeway", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0.Add(15*time.Minute + 2*time.Second), []verifier.Option{verifier.WithLeeway(time.Second)}, false},
		{"expired within a larger leeway", func(t *testing.T) string { return sign(t, jose.RS256, "k1", "at+jwt", claims(nil)) }, t0.Add(17 * time.Minute), []verifier.Option{verifier.WithLeeway(5 * time.Minute)}, true},
		{"one of several audiences", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.Audience = jwt.Audience{"billing", "api"} }))
		}, t0, []verifier.Option{verifier.WithAudience("api")}, true},
		{"no audience when one is required", func(t *testing.T) string {
			return sign(t, jose.RS256, "k1", "at+jwt", claims(func(c *verifier.Claims) { c.Audience = nil }))
		}, t0, []verifier.Option{verifier.WithAudience("api")}, false},
		{"alg none", func(t *testing.T) string {
			enc := base64.RawURLEncoding.EncodeToString
			payload, err := json.Marshal(claims(nil))
			if err != nil {
				t.Fatal(err)
			}
			return enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + enc(payload) + "."
		}, t0, nil, false},
		// An attacker's key, named k1 and offered in the token itself: only
		// the key source's k1 may check the signature.
		{"embedded jwk", func(t *testing.T) string {
			return signWith(t, otherKey(), jose.RS256, "k1",
				(&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt").WithHeader("kid", "k1"), claims(nil))
		}, t0, nil, false},
		{"jku header", func(t *testing.T) string {
			return signWith(t, otherKey(), jose.RS256, "k1",
				(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("jku", "https://evil.example.com/jwks.json"), claims(nil))
		}, t0, nil, false},
		{"HS256", func(t *testing.T) string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
				(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := jwt.Signed(s).Claims(claims(nil)).Serialize()
			return tok
		}, t0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]verifier.Option{verifier.WithClock(func() time.Time { return tc.now })}, tc.opts...)
			v := verifier.New(ks, issuer, opts...)
			c, err := v.Verify(tc.tok(t))
			if tc.valid {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "user-1" || c.SessionID != "s1" || !c.HasScope("email") || c.HasScope("phone") {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}
