package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authd/authd/identity"
)

func TestPolicyCheck(t *testing.T) {
	blocklist := identity.Policy{Blocklist: true}
	tests := []struct {
		name     string
		policy   identity.Policy
		password string
		reason   string // "" means accepted
	}{
		{"empty", identity.Policy{}, "", identity.ReasonPasswordTooShort},
		{"7 characters", identity.Policy{}, "abcdefg", identity.ReasonPasswordTooShort},
		{"8 characters", identity.Policy{}, "abcdefgh", ""},
		{"no composition rules", identity.Policy{}, "aaaaaaaa", ""},
		{"spaces count", identity.Policy{}, "a b c d ", ""},
		{"128 characters", identity.Policy{}, strings.Repeat("a", 128), ""},
		{"129 characters", identity.Policy{}, strings.Repeat("a", 129), identity.ReasonPasswordTooLong},
		{"code points, not bytes", identity.Policy{}, strings.Repeat("é", 8), ""},
		{"128 four-byte code points", identity.Policy{}, strings.Repeat("😀", 128), ""},
		{"7 code points in 28 bytes", identity.Policy{}, strings.Repeat("😀", 7), identity.ReasonPasswordTooShort},
		// U+FB01 (ﬁ) is one code point that NFKC turns into two.
		{"counted after NFKC", identity.Policy{}, "ﬁﬁﬁﬁ", ""},
		{"NFKC expands past the maximum", identity.Policy{}, strings.Repeat("ﬁ", 65), identity.ReasonPasswordTooLong},
		// e + U+0301 (combining acute) is two code points that NFKC composes into one.
		{"NFKC composes below the minimum", identity.Policy{}, strings.Repeat("e\u0301", 4), identity.ReasonPasswordTooShort},
		{"NUL", identity.Policy{}, "abcd\x00efgh", identity.ReasonPasswordInvalid},
		{"invalid UTF-8", identity.Policy{}, "abcdefgh\xff", identity.ReasonPasswordInvalid},
		{"custom minimum", identity.Policy{MinLength: 12}, "abcdefghijk", identity.ReasonPasswordTooShort},
		{"custom minimum met", identity.Policy{MinLength: 12}, "abcdefghijkl", ""},
		{"custom maximum", identity.Policy{MaxLength: 10}, "abcdefghijk", identity.ReasonPasswordTooLong},

		// Entries of common_passwords.txt: password (#1), 12345678 (#3),
		// trustno1 (#29), qwerty (#5), qwerty123 (#6285).
		{"blocklist off by default", identity.Policy{}, "password", ""},
		{"common", blocklist, "password", identity.ReasonPasswordTooCommon},
		{"common digits", blocklist, "12345678", identity.ReasonPasswordTooCommon},
		{"common, mixed case", blocklist, "PassWord", identity.ReasonPasswordTooCommon},
		{"common, upper case", blocklist, "QWERTY123", identity.ReasonPasswordTooCommon},
		{"common, title case", blocklist, "TrustNo1", identity.ReasonPasswordTooCommon},
		// Full-width letters and digits (U+FF10…U+FF5A) are NFKC-equivalent
		// to ASCII, and so are equally common.
		{"common, full-width", blocklist, "ｐａｓｓｗｏｒｄ", identity.ReasonPasswordTooCommon},
		{"common, full-width capitals and digits", blocklist, "ＱＷＥＲＴＹ１２３", identity.ReasonPasswordTooCommon},
		{"common and short: length first", blocklist, "qwerty", identity.ReasonPasswordTooShort},
		{"common, lower minimum", identity.Policy{Blocklist: true, MinLength: 6}, "qwerty", identity.ReasonPasswordTooCommon},
		{"whole entries only", blocklist, "password-lantern", ""},
		{"strong passphrase", blocklist, "velvet lantern orbits 93", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.password)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check: %v, want accepted", err)
				}
				return
			}
			var pe *identity.PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("Check: %v, want a *PolicyError", err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", pe.Reason, tt.reason)
			}
			if pe.Message == "" || pe.Error() != pe.Message {
				t.Errorf("Message = %q, Error() = %q: want the same, non-empty", pe.Message, pe.Error())
			}
			if tt.password != "" && strings.Contains(pe.Message, tt.password) {
				t.Errorf("Message %q contains the password", pe.Message)
			}
		})
	}
}
