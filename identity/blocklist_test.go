package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The digest is the one documented on commonPasswordsText: the file must
// stay the unmodified upstream copy, or the documentation must change.
func TestCommonPasswordsFileIsUpstream(t *testing.T) {
	const want = "af55295852bcb0bc63e76cd22e342d9f7778b1802e76f0c502c73a35f652fd7a"
	sum := sha256.Sum256([]byte(commonPasswordsText))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("common_passwords.txt SHA-256 = %s, want %s (update the provenance comment in blocklist.go if the list changed on purpose)", got, want)
	}
}

func TestCommonPasswordsSet(t *testing.T) {
	set := commonPasswords()
	if len(set) < 10_000 {
		t.Fatalf("blocklist has %d entries, want at least 10,000", len(set))
	}
	for p := range set {
		if p == "" || strings.ContainsAny(p, "\r\n") {
			t.Fatalf("blocklist entry %q: empty or with a line ending", p)
		}
	}
}

// Every entry, whatever its length and however it is cased, is refused
// once the length bounds let it through, first and last lines included
// (the file has CRLF endings, the last one too).
func TestPolicyRefusesEveryEntry(t *testing.T) {
	p := Policy{Blocklist: true, MinLength: 1}
	lines := strings.Split(strings.TrimSuffix(commonPasswordsText, "\r\n"), "\r\n")
	if len(lines) < 10_000 || lines[0] != "password" {
		t.Fatalf("read %d lines starting with %q: want at least 10,000 starting with password", len(lines), lines[0])
	}
	for _, line := range lines {
		for _, candidate := range []string{line, strings.ToUpper(line)} {
			var pe *PolicyError
			if err := p.Check(candidate); !errors.As(err, &pe) || pe.Reason != ReasonPasswordTooCommon {
				t.Errorf("Check(%q) = %v, want %s", candidate, err, ReasonPasswordTooCommon)
			}
		}
	}
}
