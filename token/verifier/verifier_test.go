package verifier_test

import (
	"crypto/rand"
	"crypto/rsa"
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

func sign(t *testing.T, alg jose.SignatureAlgorithm, kid, typ string, c verifier.Claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: testKey(), KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
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

func BenchmarkVerify(b *testing.B) {
	ks := keys{"k1": &testKey().PublicKey}
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: testKey(), KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	tok, _ := jwt.Signed(s).Claims(claims(nil)).Serialize()
	v := verifier.New(ks, issuer, verifier.WithClock(func() time.Time { return t0 }))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
