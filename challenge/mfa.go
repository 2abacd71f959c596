package challenge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/authd/authd/internal/random"
)

// ErrInvalidMFAToken is what Begin and Complete return for a token that
// cannot continue a login: unknown, expired, used, or past its attempts.
// The caller answers all of them the same way (invalid_grant); the client
// starts the login again.
var ErrInvalidMFAToken = errors.New("challenge: invalid or expired MFA token")

const (
	mfaTokenBytes         = 32
	defaultMFATTL         = 5 * time.Minute
	defaultMFAMaxAttempts = 5
)

// mfaTokenLen is the length of an issued token's text; anything else was
// not issued here.
var mfaTokenLen = base64.RawURLEncoding.EncodedLen(mfaTokenBytes)

// MFAClaims is what the first factor established, carried by an MFA token
// until the second factor completes the login.
type MFAClaims struct {
	UserID string `json:"user_id"`
	// ClientID is the client the login began with; the caller refuses the
	// token from any other.
	ClientID string `json:"client_id"`
	// AMR lists the methods already used ("pwd", "otp").
	AMR []string `json:"amr"`
	// AuthTime is when the first factor was checked.
	AuthTime time.Time `json:"auth_time"`
	Scope    string    `json:"scope"`
}

// MFATokens issues the mfa_token a login returns when a second factor is
// required, and redeems it. A token is 256 random bits; the store holds
// only a keyed hash of it, under a key derived from its SHA-256, so a
// leaked store reveals no live token.
type MFATokens struct {
	store       Store
	key         []byte
	ttl         time.Duration
	maxAttempts int
	rand        io.Reader
}

// MFAOption configures MFATokens.
type MFAOption func(*MFATokens)

// MFATTL sets how long an issued token stays valid (default 5 minutes).
func MFATTL(d time.Duration) MFAOption { return func(m *MFATokens) { m.ttl = d } }

// MFAMaxAttempts sets how many times a token can be presented (default 5).
func MFAMaxAttempts(n int) MFAOption { return func(m *MFATokens) { m.maxAttempts = n } }

// MFARandom sets the source tokens are drawn from (default crypto/rand).
func MFARandom(r io.Reader) MFAOption { return func(m *MFATokens) { m.rand = r } }

// NewMFATokens returns MFATokens that keep their records in store and hash
// tokens with key, which must be at least 32 secret bytes shared by every
// instance.
func NewMFATokens(store Store, key []byte, opts ...MFAOption) (*MFATokens, error) {
	m := &MFATokens{
		store:       store,
		key:         append([]byte(nil), key...),
		ttl:         defaultMFATTL,
		maxAttempts: defaultMFAMaxAttempts,
	}
	for _, opt := range opts {
		opt(m)
	}
	switch {
	case store == nil:
		return nil, errors.New("challenge: new mfa tokens: nil store")
	case len(m.key) < minKeyBytes:
		return nil, fmt.Errorf("challenge: new mfa tokens: key is %d bytes, need at least %d", len(m.key), minKeyBytes)
	case m.ttl <= 0:
		return nil, fmt.Errorf("challenge: new mfa tokens: ttl %v is not positive", m.ttl)
	case m.maxAttempts < 1:
		return nil, fmt.Errorf("challenge: new mfa tokens: max attempts %d is below 1", m.maxAttempts)
	}
	return m, nil
}

// Issue returns a new token carrying c, and its lifetime (the response's
// expires_in).
func (m *MFATokens) Issue(ctx context.Context, c MFAClaims) (token string, ttl time.Duration, err error) {
	if c.UserID == "" {
		return "", 0, errors.New("challenge: issue mfa token: empty user id")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", 0, fmt.Errorf("challenge: issue mfa token: %w", err)
	}
	token, err = random.Token(m.rand, mfaTokenBytes)
	if err != nil {
		return "", 0, fmt.Errorf("challenge: issue mfa token: %w", err)
	}
	rec := Record{Hash: m.hash(token), Payload: payload}
	if err := m.store.Put(ctx, mfaKey(token), rec, m.ttl); err != nil {
		return "", 0, fmt.Errorf("challenge: issue mfa token: %w", err)
	}
	return token, m.ttl, nil
}

// Begin counts one attempt against token and returns its claims. The
// caller then checks the second factor and, only if it is right, calls
// Complete; a wrong factor leaves the token for another attempt, until
// the attempts run out.
//
// Store failures come back as errors that are not ErrInvalidMFAToken, and
// never with claims: the caller fails closed.
func (m *MFATokens) Begin(ctx context.Context, token string) (MFAClaims, error) {
	// Text of the wrong shape cannot be a token we issued: it costs no
	// store round trip.
	if !mfaWellFormed(token) {
		return MFAClaims{}, ErrInvalidMFAToken
	}
	rec, err := m.store.Attempt(ctx, mfaKey(token))
	if errors.Is(err, ErrNotFound) {
		return MFAClaims{}, ErrInvalidMFAToken
	}
	if err != nil {
		return MFAClaims{}, fmt.Errorf("challenge: begin mfa: %w", err)
	}
	// The hash can only differ if someone wrote the record without the
	// key; checking it means write access to the store is not enough to
	// plant a token.
	if rec.Attempts > m.maxAttempts || !hmac.Equal(m.hash(token), rec.Hash) {
		return MFAClaims{}, ErrInvalidMFAToken
	}
	var c MFAClaims
	if err := json.Unmarshal(rec.Payload, &c); err != nil {
		return MFAClaims{}, fmt.Errorf("challenge: begin mfa: decode claims: %w", err)
	}
	return c, nil
}

// Complete consumes token once its second factor has been verified: of
// any number of concurrent or repeated calls, exactly one succeeds and the
// others get ErrInvalidMFAToken, so one token yields at most one set of
// tokens.
func (m *MFATokens) Complete(ctx context.Context, token string) error {
	if !mfaWellFormed(token) {
		return ErrInvalidMFAToken
	}
	ok, err := m.store.Consume(ctx, mfaKey(token), m.hash(token))
	if err != nil {
		return fmt.Errorf("challenge: complete mfa: %w", err)
	}
	if !ok {
		return ErrInvalidMFAToken
	}
	return nil
}

func (m *MFATokens) hash(token string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(token))
	return h.Sum(nil)
}

// mfaKey names the record by an unkeyed hash, so that the store key, which
// Redis shows to anyone who can list keys, gives the token away no more
// than the keyed hash inside does.
func mfaKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "mfa:" + hex.EncodeToString(sum[:])
}

func mfaWellFormed(token string) bool {
	if len(token) != mfaTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}
