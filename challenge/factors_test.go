package challenge_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/random"
	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
)

var factorKey = bytes.Repeat([]byte("f"), 32)

const issuer = "authd"

// factorStart is 10 seconds into a TOTP step, so a test that stays within
// a step never crosses its boundary.
var factorStart = time.Date(2025, 1, 2, 3, 4, 10, 0, time.UTC)

func newFactorClock() *testclock.Clock { return testclock.New(factorStart) }

// forEachFactorStore runs test on an empty memory store and on an empty
// PostgreSQL store, so Factors is proven on both.
func forEachFactorStore(t *testing.T, test func(t *testing.T, store challenge.FactorStore)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) { test(t, challenge.NewFactorMemoryStore()) })
	t.Run("postgres", func(t *testing.T) { test(t, challenge.NewFactorPostgresStore(testenv.Postgres(t))) })
}

func newFactors(t *testing.T, store challenge.FactorStore, clock *testclock.Clock, opts ...challenge.FactorOption) *challenge.Factors {
	t.Helper()
	f, err := challenge.NewFactors(store, factorKey, issuer, append([]challenge.FactorOption{challenge.FactorClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newUser(t *testing.T) string {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func setup(t *testing.T, f *challenge.Factors, userID string) challenge.TOTPSetup {
	t.Helper()
	s, err := f.Setup(context.Background(), userID, "alice@example.com")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return s
}

// enable sets up and enables TOTP for userID with the code of the current
// step, and returns the secret and the recovery codes.
func enable(t *testing.T, f *challenge.Factors, clock *testclock.Clock, userID string) (secret string, recovery []string) {
	t.Helper()
	secret = setup(t, f, userID).Secret
	recovery, err := f.Enable(context.Background(), userID, codeAt(t, secret, clock.Now(), 0))
	if err != nil {
		t.Fatalf("Enable: %v", err)
	}
	return secret, recovery
}

// codeAt is the TOTP code of the step offset steps from now's. It is
// computed here from RFC 6238 rather than with the library Factors uses,
// and TestTOTPCodeHelper checks it against the RFC's test vector.
func codeAt(t *testing.T, secret string, now time.Time, offset int64) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("decode secret: %v", err)
	}
	return rfc6238(key, now.Unix()/30+offset, 6)
}

func rfc6238(key []byte, step int64, digits int) string {
	m := hmac.New(sha1.New, key)
	_ = binary.Write(m, binary.BigEndian, step)
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// RFC 6238 Appendix B, SHA-1 row for T = 59 s: 94287082 in eight digits.
func TestTOTPCodeHelper(t *testing.T) {
	if got := rfc6238([]byte("12345678901234567890"), 59/30, 8); got != "94287082" {
		t.Fatalf("rfc6238 = %s, want 94287082", got)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

// wantFailClosed checks an error that must stop the caller without being
// mistaken for a wrong code.
func wantFailClosed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("%s: error = %v, want an error other than ErrInvalidCode", what, err)
	}
}

func enabled(t *testing.T, f *challenge.Factors, userID string) bool {
	t.Helper()
	ok, err := f.Enabled(context.Background(), userID)
	if err != nil {
		t.Fatalf("Enabled: %v", err)
	}
	return ok
}

func left(t *testing.T, f *challenge.Factors, userID string) int {
	t.Helper()
	n, err := f.RecoveryCodesLeft(context.Background(), userID)
	if err != nil {
		t.Fatalf("RecoveryCodesLeft: %v", err)
	}
	return n
}

func TestNewFactorsRefusesBadConfig(t *testing.T) {
	store := challenge.NewFactorMemoryStore()
	for _, tc := range []struct {
		name   string
		store  challenge.FactorStore
		key    []byte
		issuer string
	}{
		{"nil store", nil, factorKey, issuer},
		{"short key", store, factorKey[:31], issuer},
		{"no key", store, nil, issuer},
		{"empty issuer", store, factorKey, ""},
		{"issuer with colon", store, factorKey, "authd:prod"},
	} {
		if _, err := challenge.NewFactors(tc.store, tc.key, tc.issuer); err == nil {
			t.Errorf("NewFactors with %s: no error", tc.name)
		}
	}
}

func TestDisable(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)
		secret, recovery := enable(t, f, clock, u)
		if err := f.Disable(ctx, u); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		if enabled(t, f, u) {
			t.Fatal("Enabled after Disable = true")
		}
		clock.Advance(time.Minute)
		wantErr(t, "VerifyTOTP after Disable", f.VerifyTOTP(ctx, u, codeAt(t, secret, clock.Now(), 0)), challenge.ErrInvalidCode)
		wantErr(t, "UseRecoveryCode after Disable", f.UseRecoveryCode(ctx, u, recovery[0]), challenge.ErrInvalidCode)
		if n := left(t, f, u); n != 0 {
			t.Fatalf("RecoveryCodesLeft after Disable = %d, want 0", n)
		}
		if err := f.Disable(ctx, u); err != nil {
			t.Fatalf("second Disable: %v", err)
		}
		// A fresh start works and draws a new secret.
		if s := setup(t, f, u); s.Secret == secret {
			t.Fatal("Setup after Disable returned the old secret")
		}
	})
}

// A store that cannot answer must never look like a wrong code.
func TestFactorsFailClosedOnStoreErrors(t *testing.T) {
	ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
	store := &failingStore{FactorStore: challenge.NewFactorMemoryStore()}
	f := newFactors(t, store, clock)
	secret, recovery := enable(t, f, clock, u)
	clock.Advance(time.Minute)
	code := codeAt(t, secret, clock.Now(), 0)

	store.failWrites = errors.New("connection refused")
	wantFailClosed(t, "VerifyTOTP, advance failing", f.VerifyTOTP(ctx, u, code))
	wantFailClosed(t, "UseRecoveryCode, consume failing", f.UseRecoveryCode(ctx, u, recovery[0]))

	store.failReads = store.failWrites
	wantFailClosed(t, "VerifyTOTP, get failing", f.VerifyTOTP(ctx, u, code))
	if _, err := f.Enabled(ctx, u); err == nil {
		t.Fatal("Enabled with a failing store: no error")
	}
}

// failingStore passes calls through to FactorStore until told to fail
// reads of the factor or the writes a check ends with.
type failingStore struct {
	challenge.FactorStore
	failReads, failWrites error
}

func (s *failingStore) GetTOTP(ctx context.Context, userID string) (challenge.TOTPRecord, error) {
	if s.failReads != nil {
		return challenge.TOTPRecord{}, s.failReads
	}
	return s.FactorStore.GetTOTP(ctx, userID)
}

func (s *failingStore) AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	if s.failWrites != nil {
		return false, s.failWrites
	}
	return s.FactorStore.AdvanceTOTPStep(ctx, userID, step)
}

func (s *failingStore) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if s.failWrites != nil {
		return false, s.failWrites
	}
	return s.FactorStore.ConsumeRecoveryCode(ctx, userID, hash)
}
