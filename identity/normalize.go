package identity

import (
	"errors"
	"net/mail"
	"strings"
)

// Sentinel errors of address normalisation. They are safe to show a client.
var (
	ErrInvalidEmail = errors.New("identity: invalid email address")
	ErrInvalidPhone = errors.New("identity: invalid phone number")
)

// maxEmailLength is the longest address SMTP can carry (RFC 5321 path
// limit of 256 octets, less the angle brackets).
const maxEmailLength = 254

// NormalizeEmail returns the form of an email address that is stored and
// looked up: trimmed and lower-cased. It accepts only a bare addr-spec, as
// net/mail reads it, and reads it back unchanged: display names, angle
// brackets, comments and quoted local parts are refused, because the stored
// string is what gets compared and mailed, and text that mail systems read
// differently would let two spellings name one mailbox.
//
// Lower-casing the local part is not what RFC 5321 promises, but it is how
// every large provider behaves, and it keeps one person from holding two
// accounts that differ only in case.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmailLength {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrInvalidEmail
	}
	return strings.ToLower(s), nil
}

// E.164 numbers have at most 15 digits; fewer than 8 with the country code
// is no reachable mobile number anywhere.
const (
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

// NormalizePhone returns a phone number in E.164 form (+ and 8 to 15
// digits, the first not 0). It accepts the separators people type (spaces,
// dashes, dots, parentheses) and a leading 00 for +. A number without a
// country code is refused: without knowing the caller's country there is no
// telling which number it is.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "00"):
		s = s[2:]
	default:
		return "", ErrInvalidPhone
	}
	digits := make([]byte, 0, maxPhoneDigits+1)
	digits = append(digits, '+')
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", ErrInvalidPhone
		}
	}
	if n := len(digits) - 1; n < minPhoneDigits || n > maxPhoneDigits || digits[1] == '0' {
		return "", ErrInvalidPhone
	}
	return string(digits), nil
}
