package verifier_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/token/verifier"
)

// BenchmarkVerify is the whole check a service runs per request: parse,
// key lookup, signature, claims.
func BenchmarkVerify(b *testing.B) {
	ks := keys{"k1": &testKey().PublicKey}
	tok := sign(b, jose.RS256, "k1", "at+jwt", claims(nil))
	v := verifier.New(ks, issuer, verifier.WithClock(func() time.Time { return t0 }))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAVerifyPKCS1v15 is the floor under BenchmarkVerify: hashing the
// same token's signing input and checking its signature, nothing else.
func BenchmarkRSAVerifyPKCS1v15(b *testing.B) {
	tok := sign(b, jose.RS256, "k1", "at+jwt", claims(nil))
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &testKey().PublicKey
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoteKeySetPublicKey is the key lookup every Verify makes on a
// RemoteKeySet, from all cores at once: it takes no lock.
func BenchmarkRemoteKeySetPublicKey(b *testing.B) {
	s := newAuthd(b, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
	ks, err := verifier.NewRemoteKeySet(context.Background(), s.URL, quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := ks.PublicKey("k1"); !ok {
				b.Fatal("no k1")
			}
		}
	})
}
