// Package factorstest is the conformance suite every challenge.FactorStore
// passes, in the manner of Dex's storage/conformance: the memory store and
// the PostgreSQL store run the same tests, so the embedded default behaves
// like production.
package factorstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/random"
)

// base is whole microseconds, the precision PostgreSQL keeps.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// sealed stands in for a sealed secret; its bytes are ones a careless
// encoding would mangle: NUL, invalid UTF-8, quotes.
var sealed = []byte{0x00, 0xff, '"', '\\', 0x80, 's', 'e', 'a', 'l', 0x00}

// parallel is how many goroutines race for one row.
const parallel = 50

// Run runs the suite; newStore must return an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) challenge.FactorStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s challenge.FactorStore)
	}{
		{"Absent", testAbsent},
		{"PendingRoundTrip", testPendingRoundTrip},
		{"PendingReplaces", testPendingReplaces},
		{"PendingConflictWhenEnabled", testPendingConflictWhenEnabled},
		{"Enable", testEnable},
		{"EnableOnlyFromPending", testEnableOnlyFromPending},
		{"AdvanceMonotonic", testAdvanceMonotonic},
		{"AdvanceParallel", testAdvanceParallel},
		{"RecoveryCodes", testRecoveryCodes},
		{"ReplaceNeedsEnabled", testReplaceNeedsEnabled},
		{"ConsumeParallel", testConsumeParallel},
		{"Delete", testDelete},
		{"CodesNeverOutliveFactor", testCodesNeverOutliveFactor},
		{"UsersIndependent", testUsersIndependent},
		{"NoAliasing", testNoAliasing},
		{"MalformedUserID", testMalformedUserID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func newUserID(t *testing.T) string {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// hash stands in for a recovery code's hash; distinct labels give
// distinct hashes.
func hash(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

func hashes(labels ...string) [][]byte {
	hs := make([][]byte, len(labels))
	for i, l := range labels {
		hs[i] = hash(l)
	}
	return hs
}

func putPending(t *testing.T, s challenge.FactorStore, userID string, sealed []byte) {
	t.Helper()
	if err := s.PutPendingTOTP(context.Background(), userID, sealed, base); err != nil {
		t.Fatalf("PutPendingTOTP: %v", err)
	}
}

// enabled stores an enabled factor at step 100 with recovery codes a, b, c.
func enabled(t *testing.T, s challenge.FactorStore, userID string) {
	t.Helper()
	putPending(t, s, userID, sealed)
	if err := s.EnableTOTP(context.Background(), userID, sealed, 100, hashes("a", "b", "c"), base); err != nil {
		t.Fatalf("EnableTOTP: %v", err)
	}
}

func get(t *testing.T, s challenge.FactorStore, userID string) challenge.TOTPRecord {
	t.Helper()
	r, err := s.GetTOTP(context.Background(), userID)
	if err != nil {
		t.Fatalf("GetTOTP: %v", err)
	}
	return r
}

func advance(t *testing.T, s challenge.FactorStore, userID string, step int64) bool {
	t.Helper()
	ok, err := s.AdvanceTOTPStep(context.Background(), userID, step)
	if err != nil {
		t.Fatalf("AdvanceTOTPStep(%d): %v", step, err)
	}
	return ok
}

func consume(t *testing.T, s challenge.FactorStore, userID string, h []byte) bool {
	t.Helper()
	ok, err := s.ConsumeRecoveryCode(context.Background(), userID, h)
	if err != nil {
		t.Fatalf("ConsumeRecoveryCode: %v", err)
	}
	return ok
}

func wantCount(t *testing.T, s challenge.FactorStore, userID string, want int) {
	t.Helper()
	n, err := s.CountRecoveryCodes(context.Background(), userID)
	if err != nil {
		t.Fatalf("CountRecoveryCodes: %v", err)
	}
	if n != want {
		t.Fatalf("CountRecoveryCodes = %d, want %d", n, want)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

// wantNoTOTP checks that userID has neither a factor nor recovery codes.
func wantNoTOTP(t *testing.T, s challenge.FactorStore, userID string) {
	t.Helper()
	_, err := s.GetTOTP(context.Background(), userID)
	wantErr(t, "GetTOTP", err, challenge.ErrNotFound)
	wantCount(t, s, userID, 0)
}

func testAbsent(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	wantNoTOTP(t, s, u)
	if advance(t, s, u, 1) {
		t.Fatal("AdvanceTOTPStep without a factor = true, want false")
	}
	if consume(t, s, u, hash("a")) {
		t.Fatal("ConsumeRecoveryCode without codes = true, want false")
	}
	wantErr(t, "EnableTOTP", s.EnableTOTP(ctx, u, sealed, 1, hashes("a"), base), challenge.ErrNotFound)
	wantErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, u, hashes("a"), base), challenge.ErrNotFound)
	if err := s.DeleteTOTP(ctx, u); err != nil {
		t.Fatalf("DeleteTOTP: %v", err)
	}
	wantNoTOTP(t, s, u)
}

func testPendingRoundTrip(t *testing.T, s challenge.FactorStore) {
	u := newUserID(t)
	putPending(t, s, u, sealed)
	r := get(t, s, u)
	if r.UserID != u || !bytes.Equal(r.SecretSealed, sealed) || !r.EnabledAt.IsZero() || r.LastStep != 0 || r.Enabled() {
		t.Fatalf("GetTOTP = %+v, want user %s, sealed %x, pending at step 0", r, u, sealed)
	}
	if advance(t, s, u, 1) {
		t.Fatal("AdvanceTOTPStep on a pending factor = true, want false")
	}
	if r := get(t, s, u); r.LastStep != 0 {
		t.Fatalf("LastStep = %d after AdvanceTOTPStep on a pending factor, want 0", r.LastStep)
	}
}

func testPendingReplaces(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	putPending(t, s, u, []byte("first"))
	putPending(t, s, u, []byte("second"))
	if r := get(t, s, u); string(r.SecretSealed) != "second" || r.Enabled() {
		t.Fatalf("GetTOTP after a second PutPendingTOTP = %+v, want the second secret, pending", r)
	}
	// A code checked against the replaced secret must not enable the new
	// one, which the user's app does not have.
	wantErr(t, "EnableTOTP(replaced secret)", s.EnableTOTP(ctx, u, []byte("first"), 7, nil, base), challenge.ErrNotFound)
	if err := s.EnableTOTP(ctx, u, []byte("second"), 7, nil, base); err != nil {
		t.Fatalf("EnableTOTP(current secret): %v", err)
	}
}

func testPendingConflictWhenEnabled(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	enabled(t, s, u)
	before := get(t, s, u)
	wantErr(t, "PutPendingTOTP over an enabled factor", s.PutPendingTOTP(ctx, u, []byte("new"), base.Add(time.Hour)), challenge.ErrConflict)
	after := get(t, s, u)
	if !bytes.Equal(after.SecretSealed, before.SecretSealed) || !after.EnabledAt.Equal(before.EnabledAt) || after.LastStep != before.LastStep {
		t.Fatalf("after the refused PutPendingTOTP: %+v, want unchanged %+v", after, before)
	}
	wantCount(t, s, u, 3)
}

func testEnable(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	putPending(t, s, u, sealed)
	at := base.Add(time.Minute)
	if err := s.EnableTOTP(ctx, u, sealed, 12345, hashes("a", "b", "a"), at); err != nil {
		t.Fatalf("EnableTOTP: %v", err)
	}
	r := get(t, s, u)
	if !r.Enabled() || !r.EnabledAt.Equal(at) || r.LastStep != 12345 || !bytes.Equal(r.SecretSealed, sealed) {
		t.Fatalf("GetTOTP after EnableTOTP = %+v, want enabled at %v, step 12345", r, at)
	}
	wantCount(t, s, u, 2) // duplicates count once
	if !consume(t, s, u, hash("a")) || !consume(t, s, u, hash("b")) {
		t.Fatal("ConsumeRecoveryCode of a code EnableTOTP stored = false, want true")
	}
}

func testEnableOnlyFromPending(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	enabled(t, s, u)
	wantErr(t, "second EnableTOTP", s.EnableTOTP(ctx, u, sealed, 1, hashes("x"), base.Add(time.Hour)), challenge.ErrNotFound)
	r := get(t, s, u)
	if r.LastStep != 100 || !r.EnabledAt.Equal(base) {
		t.Fatalf("after the refused EnableTOTP: %+v, want step 100 enabled at %v", r, base)
	}
	if consume(t, s, u, hash("x")) {
		t.Fatal("the refused EnableTOTP stored its recovery codes")
	}
	wantCount(t, s, u, 3)
}

func testAdvanceMonotonic(t *testing.T, s challenge.FactorStore) {
	u := newUserID(t)
	enabled(t, s, u) // at step 100
	for _, tc := range []struct {
		step int64
		want bool
	}{
		{100, false}, // the step the factor was enabled with
		{99, false},
		{101, true},
		{101, false}, // a replay
		{105, true},
		{103, false}, // older than the last accepted
		{104, false},
		{106, true},
	} {
		if got := advance(t, s, u, tc.step); got != tc.want {
			t.Fatalf("AdvanceTOTPStep(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
	if r := get(t, s, u); r.LastStep != 106 {
		t.Fatalf("LastStep = %d, want 106", r.LastStep)
	}
}

// race runs fn in parallel goroutines released together and returns how
// many reported true.
func race(t *testing.T, fn func() (bool, error)) int32 {
	t.Helper()
	var (
		wins  atomic.Int32
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, parallel)
	)
	for range parallel {
		wg.Go(func() {
			<-start
			ok, err := fn()
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return wins.Load()
}

func testAdvanceParallel(t *testing.T, s challenge.FactorStore) {
	u := newUserID(t)
	enabled(t, s, u)
	wins := race(t, func() (bool, error) { return s.AdvanceTOTPStep(context.Background(), u, 200) })
	if wins != 1 {
		t.Fatalf("%d of %d concurrent AdvanceTOTPStep(200) won, want exactly 1", wins, parallel)
	}
}

func testRecoveryCodes(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	enabled(t, s, u) // codes a, b, c
	if !consume(t, s, u, hash("b")) {
		t.Fatal("first ConsumeRecoveryCode(b) = false, want true")
	}
	if consume(t, s, u, hash("b")) {
		t.Fatal("second ConsumeRecoveryCode(b) = true, want false")
	}
	if consume(t, s, u, hash("unknown")) {
		t.Fatal("ConsumeRecoveryCode(unknown) = true, want false")
	}
	wantCount(t, s, u, 2)

	if err := s.ReplaceRecoveryCodes(ctx, u, hashes("d", "e"), base.Add(time.Hour)); err != nil {
		t.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
	wantCount(t, s, u, 2)
	if consume(t, s, u, hash("a")) || consume(t, s, u, hash("c")) {
		t.Fatal("a replaced code was consumed")
	}
	if !consume(t, s, u, hash("e")) {
		t.Fatal("ConsumeRecoveryCode(e) = false, want true")
	}
	wantCount(t, s, u, 1)

	if err := s.ReplaceRecoveryCodes(ctx, u, nil, base); err != nil {
		t.Fatalf("ReplaceRecoveryCodes(none): %v", err)
	}
	wantCount(t, s, u, 0)
}

func testReplaceNeedsEnabled(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	putPending(t, s, u, sealed)
	wantErr(t, "ReplaceRecoveryCodes on a pending factor", s.ReplaceRecoveryCodes(ctx, u, hashes("a"), base), challenge.ErrNotFound)
	wantCount(t, s, u, 0)
}

func testConsumeParallel(t *testing.T, s challenge.FactorStore) {
	u := newUserID(t)
	enabled(t, s, u)
	wins := race(t, func() (bool, error) { return s.ConsumeRecoveryCode(context.Background(), u, hash("a")) })
	if wins != 1 {
		t.Fatalf("%d of %d concurrent ConsumeRecoveryCode won, want exactly 1", wins, parallel)
	}
	wantCount(t, s, u, 2)
}

func testDelete(t *testing.T, s challenge.FactorStore) {
	ctx, u := context.Background(), newUserID(t)
	enabled(t, s, u)
	for range 2 { // deleting nothing is not an error
		if err := s.DeleteTOTP(ctx, u); err != nil {
			t.Fatalf("DeleteTOTP: %v", err)
		}
		wantNoTOTP(t, s, u)
	}
	if consume(t, s, u, hash("a")) {
		t.Fatal("ConsumeRecoveryCode after DeleteTOTP = true, want false")
	}
	if advance(t, s, u, 500) {
		t.Fatal("AdvanceTOTPStep after DeleteTOTP = true, want false")
	}
	// The user can start over.
	putPending(t, s, u, []byte("again"))
	if r := get(t, s, u); r.Enabled() || r.LastStep != 0 {
		t.Fatalf("GetTOTP after a new set-up = %+v, want pending at step 0", r)
	}
	if err := s.DeleteTOTP(ctx, u); err != nil {
		t.Fatalf("DeleteTOTP(pending): %v", err)
	}
	wantNoTOTP(t, s, u)
}

// Enabling or regenerating while the factor is being deleted must never
// leave recovery codes without a factor: they would stand in for a second
// factor the user no longer has.
func testCodesNeverOutliveFactor(t *testing.T, s challenge.FactorStore) {
	ctx := context.Background()
	for range 20 {
		u, pending := newUserID(t), newUserID(t)
		enabled(t, s, u)
		putPending(t, s, pending, sealed)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := s.ReplaceRecoveryCodes(ctx, u, hashes("d", "e"), base); err != nil && !errors.Is(err, challenge.ErrNotFound) {
				t.Errorf("ReplaceRecoveryCodes: %v", err)
			}
		})
		wg.Go(func() {
			if err := s.EnableTOTP(ctx, pending, sealed, 1, hashes("d", "e"), base); err != nil && !errors.Is(err, challenge.ErrNotFound) {
				t.Errorf("EnableTOTP: %v", err)
			}
		})
		for _, id := range []string{u, pending} {
			wg.Go(func() {
				if err := s.DeleteTOTP(ctx, id); err != nil {
					t.Errorf("DeleteTOTP: %v", err)
				}
			})
		}
		wg.Wait()
		wantNoTOTP(t, s, u)
		wantNoTOTP(t, s, pending)
	}
}

func testUsersIndependent(t *testing.T, s challenge.FactorStore) {
	ctx, alice, bob := context.Background(), newUserID(t), newUserID(t)
	enabled(t, s, alice)
	enabled(t, s, bob)
	if consume(t, s, bob, hash("nope")) || !consume(t, s, bob, hash("a")) {
		t.Fatal("ConsumeRecoveryCode for bob went wrong")
	}
	if !advance(t, s, bob, 300) {
		t.Fatal("AdvanceTOTPStep(bob, 300) = false, want true")
	}
	if err := s.DeleteTOTP(ctx, bob); err != nil {
		t.Fatalf("DeleteTOTP(bob): %v", err)
	}
	if r := get(t, s, alice); r.LastStep != 100 || !r.Enabled() {
		t.Fatalf("alice after bob's changes: %+v, want enabled at step 100", r)
	}
	wantCount(t, s, alice, 3)
	if !consume(t, s, alice, hash("a")) {
		t.Fatal("alice's code a was consumed by bob")
	}
}

func testNoAliasing(t *testing.T, s challenge.FactorStore) {
	u := newUserID(t)
	in := bytes.Clone(sealed)
	putPending(t, s, u, in)
	in[0] ^= 0xff
	out := get(t, s, u)
	if !bytes.Equal(out.SecretSealed, sealed) {
		t.Fatal("changing the slice given to PutPendingTOTP changed the stored secret")
	}
	out.SecretSealed[0] ^= 0xff
	if !bytes.Equal(get(t, s, u).SecretSealed, sealed) {
		t.Fatal("changing the slice GetTOTP returned changed the stored secret")
	}
}

// User IDs are UUIDs; anything else (from a client, say) is simply absent,
// never a server error.
func testMalformedUserID(t *testing.T, s challenge.FactorStore) {
	ctx := context.Background()
	for _, u := range []string{"", "not-a-uuid", "'; DROP TABLE totp_factors; --"} {
		wantNoTOTP(t, s, u)
		if advance(t, s, u, 1) || consume(t, s, u, hash("a")) {
			t.Fatalf("user %q: advance or consume succeeded", u)
		}
		wantErr(t, "EnableTOTP", s.EnableTOTP(ctx, u, sealed, 1, nil, base), challenge.ErrNotFound)
		wantErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, u, nil, base), challenge.ErrNotFound)
		if err := s.DeleteTOTP(ctx, u); err != nil {
			t.Fatalf("DeleteTOTP(%q): %v", u, err)
		}
	}
}
