package challenge

import "testing"

func TestNormalizeRecoveryCode(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" when refused
	}{
		{"abcde-fghjk", "abcdefghjk"},
		{"ABCDE-FGHJK", "abcdefghjk"},
		{"abcde fghjk", "abcdefghjk"},
		{"abcdefghjk", "abcdefghjk"},
		{" AbCdE - fGhJk ", "abcdefghjk"},
		// Lookalikes the alphabet leaves out read as Crockford does.
		{"ABCDE-FGHIJ", "abcdefgh1j"},
		{"abcde fghij", "abcdefgh1j"},
		{"oOiIl-L0123", "0011110123"},
		{"", ""},
		{"abcde-fghj", ""},       // too short
		{"abcde-fghjkm", ""},     // too long
		{"abcde-fghju", ""},      // u is not in the alphabet
		{"abcde_fghjk", ""},      // only dashes and spaces are dropped
		{"abcde\tfghjk", ""},     // tabs are not
		{"abcde-fghj\u212a", ""}, // Kelvin sign, which strings.ToLower makes k
		{"ábcde-fghjk", ""},
	} {
		got, ok := normalizeRecoveryCode(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("normalizeRecoveryCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.want != "")
		}
	}
}
