package keystore_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keystore"
)

func TestStateAt(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	full := keystore.Key{ActivatesAt: t0, RetiresAt: t1, ExpiresAt: t2}
	for _, tc := range []struct {
		name string
		key  keystore.Key
		at   time.Time
		want keystore.State
	}{
		{"before activation", full, t0.Add(-time.Nanosecond), keystore.StateNext},
		{"at activation", full, t0, keystore.StateActive},
		{"just before retirement", full, t1.Add(-time.Nanosecond), keystore.StateActive},
		{"at retirement", full, t1, keystore.StateRetired},
		{"just before expiry", full, t2.Add(-time.Nanosecond), keystore.StateRetired},
		{"at expiry", full, t2, keystore.StateExpired},
		{"after expiry", full, t2.Add(time.Hour), keystore.StateExpired},
		{"no retirement: next", keystore.Key{ActivatesAt: t0}, t0.Add(-time.Nanosecond), keystore.StateNext},
		{"no retirement: active for ever", keystore.Key{ActivatesAt: t0}, t0.AddDate(100, 0, 0), keystore.StateActive},
		{"no expiry: retired for ever", keystore.Key{ActivatesAt: t0, RetiresAt: t1}, t1.AddDate(100, 0, 0), keystore.StateRetired},
		// Inconsistent timestamps: expiry wins, so no unpublished key signs.
		{"expiry without retirement", keystore.Key{ActivatesAt: t0, ExpiresAt: t1}, t1, keystore.StateExpired},
		{"expiry before retirement", keystore.Key{ActivatesAt: t0, RetiresAt: t2, ExpiresAt: t1}, t1, keystore.StateExpired},
		{"expiry before activation", keystore.Key{ActivatesAt: t1, ExpiresAt: t0}, t0, keystore.StateExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.StateAt(tc.at); got != tc.want {
				t.Fatalf("StateAt = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatePublished(t *testing.T) {
	for _, tc := range []struct {
		state     keystore.State
		name      string
		published bool
	}{
		{keystore.StateNext, "next", true},
		{keystore.StateActive, "active", true},
		{keystore.StateRetired, "retired", true},
		{keystore.StateExpired, "expired", false},
		{0, "State(0)", false},
	} {
		if got := tc.state.String(); got != tc.name {
			t.Errorf("String() = %q, want %q", got, tc.name)
		}
		if got := tc.state.Published(); got != tc.published {
			t.Errorf("%v.Published() = %v, want %v", tc.state, got, tc.published)
		}
	}
}

func TestGenerateRejectsSize(t *testing.T) {
	for _, bits := range []int{0, 1024, 2047, 2049, 8192} {
		if _, err := keystore.Generate(nil, bits); err == nil {
			t.Errorf("Generate(%d bits) succeeded, want an error", bits)
		}
	}
}

func TestGenerate(t *testing.T) {
	// testKeys generates through keystore.Generate.
	for _, k := range testKeys(t) {
		if k.N.BitLen() != 2048 {
			t.Errorf("generated a %d-bit key, want 2048", k.N.BitLen())
		}
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// RFC 7638 §3.1.
	const (
		n    = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keystore.Thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537})
	if err != nil {
		t.Fatalf("Thumbprint: %v", err)
	}
	if got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func TestThumbprintNoKey(t *testing.T) {
	for _, pub := range []*rsa.PublicKey{nil, {}} {
		if _, err := keystore.Thumbprint(pub); err == nil {
			t.Errorf("Thumbprint(%v) succeeded, want an error", pub)
		}
	}
}

func TestKeyLogValue(t *testing.T) {
	priv := testKeys(t)[0]
	kid, err := keystore.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key := keystore.Key{ID: kid, Private: priv, Public: &priv.PublicKey}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("m", "key", key, "ptr", &key)
		out := buf.String()
		if strings.Count(out, kid) != 2 {
			t.Errorf("log output does not carry the kid twice: %s", out)
		}
		n := base64.RawURLEncoding.EncodeToString(priv.N.Bytes())
		for _, secret := range []string{n[:16], priv.D.String()[:16], priv.Primes[0].String()[:16], "Primes", "Precomputed"} {
			if strings.Contains(out, secret) {
				t.Errorf("log output contains key material %q: %s", secret, out)
			}
		}
	}
}
