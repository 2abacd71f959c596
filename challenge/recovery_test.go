package challenge_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/authd/authd/challenge"
)

// Crockford base32 in lower case, five and five.
var recoveryCodeFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func checkRecoveryCodes(t *testing.T, codes []string) {
	t.Helper()
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(codes))
	}
	seen := make(map[string]bool)
	for _, c := range codes {
		if !recoveryCodeFormat.MatchString(c) {
			t.Fatalf("recovery code %q does not match %s", c, recoveryCodeFormat)
		}
		if seen[c] {
			t.Fatalf("recovery code %q issued twice", c)
		}
		seen[c] = true
	}
}

func TestRecoveryCodesSingleUse(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, alice, bob := context.Background(), newFactorClock(), newUser(t), newUser(t)
		f := newFactors(t, store, clock)
		_, codes := enable(t, f, clock, alice)
		_, bobCodes := enable(t, f, clock, bob)
		checkRecoveryCodes(t, codes)
		if n := left(t, f, alice); n != 10 {
			t.Fatalf("RecoveryCodesLeft = %d, want 10", n)
		}

		// Each way of typing a code is tried on its own code, which then
		// is used up however it is typed.
		typed := []struct {
			name string
			fn   func(string) string
		}{
			{"as issued", func(c string) string { return c }},
			{"upper case", strings.ToUpper},
			{"space for dash", func(c string) string { return strings.Replace(c, "-", " ", 1) }},
			{"no separator", func(c string) string { return strings.Replace(c, "-", "", 1) }},
			{"upper case, padded", func(c string) string { return " " + strings.ToUpper(strings.Replace(c, "-", " ", 1)) + " " }},
		}
		for i, tc := range typed {
			if err := f.UseRecoveryCode(ctx, alice, tc.fn(codes[i])); err != nil {
				t.Fatalf("UseRecoveryCode(%s): %v", tc.name, err)
			}
			for _, again := range typed {
				wantErr(t, "UseRecoveryCode("+tc.name+") again, "+again.name, f.UseRecoveryCode(ctx, alice, again.fn(codes[i])), challenge.ErrInvalidCode)
			}
		}
		if n := left(t, f, alice); n != 10-len(typed) {
			t.Fatalf("RecoveryCodesLeft = %d, want %d", n, 10-len(typed))
		}

		for _, code := range []string{"", "abcde-fghjk", codes[9][:10], codes[9] + "0", "ábcde-fghjk", bobCodes[0]} {
			wantErr(t, "UseRecoveryCode("+code+")", f.UseRecoveryCode(ctx, alice, code), challenge.ErrInvalidCode)
		}
		if err := f.UseRecoveryCode(ctx, bob, bobCodes[0]); err != nil {
			t.Fatalf("bob's own code after alice tried it: %v", err)
		}
	})
}

func TestRegenerateRecoveryCodes(t *testing.T) {
	forEachFactorStore(t, func(t *testing.T, store challenge.FactorStore) {
		ctx, clock, u := context.Background(), newFactorClock(), newUser(t)
		f := newFactors(t, store, clock)

		_, err := f.RegenerateRecoveryCodes(ctx, u)
		wantErr(t, "RegenerateRecoveryCodes without TOTP", err, challenge.ErrTOTPNotEnabled)
		s := setup(t, f, u)
		_, err = f.RegenerateRecoveryCodes(ctx, u)
		wantErr(t, "RegenerateRecoveryCodes with TOTP pending", err, challenge.ErrTOTPNotEnabled)

		old, err := f.Enable(ctx, u, codeAt(t, s.Secret, clock.Now(), 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.UseRecoveryCode(ctx, u, old[0]); err != nil {
			t.Fatal(err)
		}
		fresh, err := f.RegenerateRecoveryCodes(ctx, u)
		if err != nil {
			t.Fatalf("RegenerateRecoveryCodes: %v", err)
		}
		checkRecoveryCodes(t, fresh)
		if n := left(t, f, u); n != 10 {
			t.Fatalf("RecoveryCodesLeft after regenerating = %d, want 10", n)
		}
		for _, c := range old[1:] {
			wantErr(t, "UseRecoveryCode(old code)", f.UseRecoveryCode(ctx, u, c), challenge.ErrInvalidCode)
		}
		if err := f.UseRecoveryCode(ctx, u, fresh[3]); err != nil {
			t.Fatalf("UseRecoveryCode(new code): %v", err)
		}
		if n := left(t, f, u); n != 9 {
			t.Fatalf("RecoveryCodesLeft = %d, want 9", n)
		}
	})
}
