package challenge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/authd/authd/internal/random"
)

const (
	recoveryCodeCount = 10
	// recoveryCodeChars characters of 5 bits each make 50 random bits: out
	// of reach of online guessing, which callers throttle anyway.
	recoveryCodeChars = 10
	// recoveryAlphabet is Crockford's base32 in lower case: it leaves out
	// i, l, o and u, so no two of its characters look alike. 32 characters,
	// so a random byte's low five bits pick one uniformly.
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
)

// UseRecoveryCode consumes one of the user's recovery codes in place of a
// TOTP code. Case, dashes and spaces do not matter. ErrInvalidCode when the
// code is not one of the user's unused codes.
func (f *Factors) UseRecoveryCode(ctx context.Context, userID, code string) error {
	norm, ok := normalizeRecoveryCode(code)
	if !ok {
		return ErrInvalidCode
	}
	used, err := f.store.ConsumeRecoveryCode(ctx, userID, f.recoveryHash(userID, norm))
	if err != nil {
		return fmt.Errorf("challenge: use recovery code: %w", err)
	}
	if !used {
		return ErrInvalidCode
	}
	return nil
}

// RegenerateRecoveryCodes replaces all of the user's recovery codes with
// new ones, returned to show once. ErrTOTPNotEnabled without an enabled
// TOTP factor: recovery codes stand in for it and exist only beside it.
func (f *Factors) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, hashes, err := f.newRecoveryCodes(userID)
	if err != nil {
		return nil, fmt.Errorf("challenge: regenerate recovery codes: %w", err)
	}
	err = f.store.ReplaceRecoveryCodes(ctx, userID, hashes, f.now())
	if errors.Is(err, ErrNotFound) {
		return nil, ErrTOTPNotEnabled
	}
	if err != nil {
		return nil, fmt.Errorf("challenge: regenerate recovery codes: %w", err)
	}
	return codes, nil
}

// RecoveryCodesLeft returns how many unused recovery codes the user has, so
// they can be told to regenerate before running out.
func (f *Factors) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	n, err := f.store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("challenge: count recovery codes: %w", err)
	}
	return n, nil
}

// newRecoveryCodes draws a set of recovery codes, formatted xxxxx-xxxxx for
// reading, with the hashes to store.
func (f *Factors) newRecoveryCodes(userID string) (codes []string, hashes [][]byte, err error) {
	b, err := random.Bytes(f.rand, recoveryCodeCount*recoveryCodeChars)
	if err != nil {
		return nil, nil, fmt.Errorf("draw recovery codes: %w", err)
	}
	defer clear(b)
	codes = make([]string, recoveryCodeCount)
	hashes = make([][]byte, recoveryCodeCount)
	code := make([]byte, recoveryCodeChars)
	for i := range codes {
		for j, c := range b[i*recoveryCodeChars : (i+1)*recoveryCodeChars] {
			code[j] = recoveryAlphabet[c&31]
		}
		half := recoveryCodeChars / 2
		codes[i] = string(code[:half]) + "-" + string(code[half:])
		hashes[i] = f.recoveryHash(userID, string(code))
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode returns code as it was hashed: lower case, without
// the dashes and spaces people type or copy, and with the lookalikes the
// alphabet lacks read as Crockford does (o as 0, i and l as 1). ok is false
// when the result cannot be a code we issued. It works on bytes, not runes:
// strings.ToLower would turn non-ASCII letters such as the Kelvin sign into
// ASCII ones.
func normalizeRecoveryCode(code string) (norm string, ok bool) {
	b := make([]byte, 0, recoveryCodeChars)
	for i := 0; i < len(code); i++ {
		c := code[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case '-', ' ':
			continue
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if len(b) == recoveryCodeChars || strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", false
		}
		b = append(b, c)
	}
	if len(b) != recoveryCodeChars {
		return "", false
	}
	return string(b), true
}

// recoveryHash binds a normalised code to its user, so a hash copied to
// another user's rows matches nothing. The NUL cannot be ambiguous: the
// code after it has a fixed length.
func (f *Factors) recoveryHash(userID, norm string) []byte {
	m := hmac.New(sha256.New, f.recoveryKey)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(norm))
	return m.Sum(nil)
}
