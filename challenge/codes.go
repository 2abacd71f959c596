package challenge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/authd/authd/internal/random"
)

// Errors Verify returns for a code that does not prove anything. Callers
// answer both the same way to the client (INVALID_CODE), except that
// ErrTooManyAttempts tells them a new code must be requested.
var (
	ErrInvalidCode     = errors.New("challenge: invalid or expired code")
	ErrTooManyAttempts = errors.New("challenge: too many attempts")
)

// Purpose says what a code proves. It is part of both the store key and the
// keyed hash, so a code issued for one purpose never verifies for another.
type Purpose string

const (
	PurposeSignup Purpose = "signup"
	PurposeLogin  Purpose = "login"
)

// valid keeps purposes to a small alphabet: a ':' would let two
// (purpose, subject) pairs share a store key, and a NUL would make the
// hashed input ambiguous.
func (p Purpose) valid() bool {
	if p == "" {
		return false
	}
	for _, r := range p {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

const (
	codeDigits         = 6
	minKeyBytes        = 32
	defaultCodeTTL     = 5 * time.Minute
	defaultMaxAttempts = 5
)

// Codes issues and verifies one-time numeric codes (email and SMS OTP).
// Only an HMAC of each code is stored, so a leaked store does not reveal
// live codes. Subjects are compared byte for byte: callers normalise
// addresses before issuing and verifying.
type Codes struct {
	store       Store
	key         []byte
	ttl         time.Duration
	maxAttempts int
	rand        io.Reader
}

// Option configures Codes.
type Option func(*Codes)

// CodeTTL sets how long an issued code stays valid (default 5 minutes).
func CodeTTL(d time.Duration) Option { return func(c *Codes) { c.ttl = d } }

// CodeMaxAttempts sets how many verifications a code survives (default 5).
func CodeMaxAttempts(n int) Option { return func(c *Codes) { c.maxAttempts = n } }

// CodeRandom sets the source codes are drawn from (default crypto/rand).
func CodeRandom(r io.Reader) Option { return func(c *Codes) { c.rand = r } }

// NewCodes returns Codes that keep their records in store and hash codes
// with key, which must be at least 32 secret bytes shared by every instance
// (a code issued by one instance is verified by another).
func NewCodes(store Store, key []byte, opts ...Option) (*Codes, error) {
	c := &Codes{
		store:       store,
		key:         append([]byte(nil), key...),
		ttl:         defaultCodeTTL,
		maxAttempts: defaultMaxAttempts,
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case store == nil:
		return nil, errors.New("challenge: new codes: nil store")
	case len(c.key) < minKeyBytes:
		return nil, fmt.Errorf("challenge: new codes: key is %d bytes, need at least %d", len(c.key), minKeyBytes)
	case c.ttl <= 0:
		return nil, fmt.Errorf("challenge: new codes: ttl %v is not positive", c.ttl)
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("challenge: new codes: max attempts %d is below 1", c.maxAttempts)
	}
	return c, nil
}

// TTL is how long an issued code stays valid, for telling the user.
func (c *Codes) TTL() time.Duration { return c.ttl }

// Issue draws a new code for subject, replacing any earlier one for the same
// purpose and subject (and its attempt count), and returns it with its
// lifetime. payload comes back from a successful Verify.
func (c *Codes) Issue(ctx context.Context, purpose Purpose, subject string, payload []byte) (code string, ttl time.Duration, err error) {
	if !purpose.valid() {
		return "", 0, fmt.Errorf("challenge: issue code: invalid purpose %q", purpose)
	}
	if subject == "" {
		return "", 0, errors.New("challenge: issue code: empty subject")
	}
	code, err = random.Digits(c.rand, codeDigits)
	if err != nil {
		return "", 0, fmt.Errorf("challenge: issue %s code: %w", purpose, err)
	}
	rec := Record{Hash: c.hash(purpose, subject, code), Payload: payload}
	if err := c.store.Put(ctx, codeKey(purpose, subject), rec, c.ttl); err != nil {
		return "", 0, fmt.Errorf("challenge: issue %s code: %w", purpose, err)
	}
	return code, c.ttl, nil
}

// Verify checks code against the one issued for subject and, on success,
// consumes it and returns its payload: a code verifies at most once.
//
// A code stops verifying after its max-th attempt. That is enforced by the
// attempt counter alone, never by deleting the record: a delete from a
// later, failed attempt could overtake an earlier attempt that carried the
// right code and is about to consume it, so of several concurrent correct
// verifications none would succeed. The record expires with its TTL or is
// replaced by the next Issue.
//
// Store failures come back as errors that are neither ErrInvalidCode nor
// ErrTooManyAttempts, and never with a payload: the caller fails closed.
func (c *Codes) Verify(ctx context.Context, purpose Purpose, subject, code string) (payload []byte, err error) {
	if !purpose.valid() {
		return nil, fmt.Errorf("challenge: verify code: invalid purpose %q", purpose)
	}
	// Malformed input cannot be a guess at a code we issued, so it neither
	// costs the subject an attempt nor reaches the store.
	if subject == "" || !wellFormed(code) {
		return nil, ErrInvalidCode
	}
	key := codeKey(purpose, subject)
	rec, err := c.store.Attempt(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidCode
	}
	if err != nil {
		return nil, fmt.Errorf("challenge: verify %s code: %w", purpose, err)
	}
	if rec.Attempts > c.maxAttempts {
		return nil, ErrTooManyAttempts
	}
	want := c.hash(purpose, subject, code)
	if !hmac.Equal(want, rec.Hash) {
		return nil, ErrInvalidCode
	}
	ok, err := c.store.Consume(ctx, key, want)
	if err != nil {
		return nil, fmt.Errorf("challenge: verify %s code: %w", purpose, err)
	}
	if !ok {
		// Another verifier consumed it first, or a new code replaced it.
		return nil, ErrInvalidCode
	}
	return rec.Payload, nil
}

// Revoke invalidates the code issued for subject, if any.
func (c *Codes) Revoke(ctx context.Context, purpose Purpose, subject string) error {
	if !purpose.valid() {
		return fmt.Errorf("challenge: revoke code: invalid purpose %q", purpose)
	}
	if err := c.store.Delete(ctx, codeKey(purpose, subject)); err != nil {
		return fmt.Errorf("challenge: revoke %s code: %w", purpose, err)
	}
	return nil
}

// hash binds the code to its purpose and subject; NUL separators keep the
// input unambiguous because purposes hold no NUL and codes have a fixed
// length.
func (c *Codes) hash(purpose Purpose, subject, code string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

func codeKey(purpose Purpose, subject string) string {
	return "code:" + string(purpose) + ":" + subject
}

// wellFormed accepts exactly six ASCII digits; unicode.IsDigit would also
// accept full-width and other scripts' digits, which we never issue.
func wellFormed(code string) bool {
	if len(code) != codeDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
