package identity

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Machine-readable reasons of a PolicyError, sent to clients as the error
// reason.
const (
	ReasonPasswordTooShort  = "PASSWORD_TOO_SHORT"
	ReasonPasswordTooLong   = "PASSWORD_TOO_LONG"
	ReasonPasswordInvalid   = "PASSWORD_INVALID"
	ReasonPasswordTooCommon = "PASSWORD_TOO_COMMON"
)

// Default password length bounds (NIST SP 800-63B: at least 8, and allow
// long passphrases).
const (
	DefaultMinPasswordLength = 8
	DefaultMaxPasswordLength = 128
)

// Policy is what a new password must satisfy. Lengths count Unicode code
// points after NFKC normalisation, the form that is hashed. There are no
// composition rules: they make passwords harder to remember, not to guess.
//
// With Blocklist set, a password on the embedded list of the 10,000 most
// common ones is refused, compared after NFKC and lower-casing (NIST SP
// 800-63B asks for a check against commonly used passwords). It is off in
// the zero value so existing callers keep their behaviour.
type Policy struct {
	MinLength int  // 0 means DefaultMinPasswordLength
	MaxLength int  // 0 means DefaultMaxPasswordLength
	Blocklist bool // refuse the most common passwords
}

// PolicyError is a refused password. Message is safe to show the user and
// never contains the password.
type PolicyError struct {
	Reason  string // one of the Reason… constants
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

// Check returns a *PolicyError when password does not satisfy p.
func (p Policy) Check(password string) error {
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen == 0 {
		minLen = DefaultMinPasswordLength
	}
	if maxLen == 0 {
		maxLen = DefaultMaxPasswordLength
	}
	if !utf8.ValidString(password) || strings.ContainsRune(password, 0) {
		return &PolicyError{Reason: ReasonPasswordInvalid, Message: "password must be valid UTF-8 text without NUL characters"}
	}
	normalised := norm.NFKC.String(password)
	n := utf8.RuneCountInString(normalised)
	// Length comes first: it is the simpler advice, a list entry too short
	// to be accepted anyway is better reported as short, and the list is
	// not consulted (or built) for a password refused already.
	switch {
	case n < minLen:
		return &PolicyError{Reason: ReasonPasswordTooShort, Message: fmt.Sprintf("password must be at least %d characters", minLen)}
	case n > maxLen:
		return &PolicyError{Reason: ReasonPasswordTooLong, Message: fmt.Sprintf("password must be at most %d characters", maxLen)}
	case p.Blocklist && isCommonPassword(normalised):
		return &PolicyError{Reason: ReasonPasswordTooCommon, Message: "too common: this is among the most used choices, which attackers try first; pick something less predictable, such as a few unrelated words"}
	}
	return nil
}
