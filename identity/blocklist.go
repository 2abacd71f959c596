package identity

import (
	_ "embed"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// commonPasswordsText is Mark Burnett's list of the 10,000 most common
// passwords (xato.net, "10,000 Top Passwords"), most common first, one
// lowercase entry per CRLF-terminated line. The file is byte for byte
// "lib/10k most common.txt" of the npm package common-password 0.1.2
// (github.com/meehow/common-password, licence ISC per its package.json),
// SHA-256 af55295852bcb0bc63e76cd22e342d9f7778b1802e76f0c502c73a35f652fd7a.
// It is kept unmodified, with no header, so anyone can check it against
// the upstream copy; a test pins the digest so an edit cannot slip in
// without this comment being revisited.
//
//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is built on first use, so a server that never checks a
// new password (or runs with the blocklist off) never pays for the set.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordsText, "\n"))
	for line := range strings.Lines(commonPasswordsText) {
		// Entries go through the same folding as candidates, so the match
		// stays right if the list is ever swapped for one with capitals.
		if p := strings.TrimRight(line, "\r\n"); p != "" {
			set[foldPassword(p)] = struct{}{}
		}
	}
	return set
})

// foldPassword is the form compared with the list: NFKC, the form that is
// hashed, then lower case, so "PassWord" and its full-width spelling count
// as "password". NFKC of a string already in NFKC is a scan, not a copy.
func foldPassword(password string) string {
	return strings.ToLower(norm.NFKC.String(password))
}

// isCommonPassword reports whether password is on the list.
func isCommonPassword(password string) bool {
	_, ok := commonPasswords()[foldPassword(password)]
	return ok
}
