package challenge

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors of [Factors] besides [ErrInvalidCode], which it returns for every
// code that proves nothing (wrong, malformed, replayed or used).
var (
	ErrTOTPAlreadyEnabled = errors.New("challenge: totp already enabled")
	ErrTOTPNotEnabled     = errors.New("challenge: totp not enabled")
	ErrNoPendingTOTP      = errors.New("challenge: no totp set-up to enable")
)

// errUnseal is what every failed open returns. GCM cannot tell a wrong key
// from a secret moved to another user or tampered bytes, so the message
// names all three. It is deliberately not ErrInvalidCode: a key that opens
// nothing is a misconfiguration to fail loudly on, not a wrong guess.
var errUnseal = errors.New("challenge: cannot unseal totp secret: wrong key, wrong user or corrupted data")

// HKDF info strings: one master key yields independent keys per use, so
// sharing the master key with [Codes] or between uses reveals nothing.
const (
	sealKeyInfo     = "authd totp-seal v1"
	recoveryKeyInfo = "authd recovery v1"
)

// Factors enrols and verifies second factors: TOTP (RFC 6238, SHA-1, six
// digits, 30-second steps, one step of skew either way) and single-use
// recovery codes.
//
// TOTP secrets are stored sealed with AES-256-GCM under a key derived from
// the key given to [NewFactors], bound to their user; recovery codes only
// as keyed hashes. Each TOTP code is accepted once: the store keeps the
// last accepted time step and refuses any step not after it.
//
// Factors counts no attempts: callers throttle VerifyTOTP, Enable and
// UseRecoveryCode per account and per client, since three of a million
// six-digit codes are valid at any time.
type Factors struct {
	store       FactorStore
	aead        cipher.AEAD
	recoveryKey []byte
	issuer      string
	now         func() time.Time
	rand        io.Reader
}

// FactorOption configures Factors.
type FactorOption func(*Factors)

// FactorClock sets the clock TOTP steps are computed from (default
// time.Now).
func FactorClock(now func() time.Time) FactorOption { return func(f *Factors) { f.now = now } }

// FactorRandom sets the source TOTP secrets and recovery codes are drawn
// from (default crypto/rand).
func FactorRandom(r io.Reader) FactorOption { return func(f *Factors) { f.rand = r } }

// NewFactors returns Factors that keep their state in store. key must be at
// least 32 secret bytes shared by every instance and kept stable: a new key
// makes every stored TOTP secret unreadable and every recovery code
// unknown. issuer names the service in authenticator apps; it may not hold
// a ':', which separates it from the account name in the otpauth URI.
func NewFactors(store FactorStore, key []byte, issuer string, opts ...FactorOption) (*Factors, error) {
	switch {
	case store == nil:
		return nil, errors.New("challenge: new factors: nil store")
	case len(key) < minKeyBytes:
		return nil, fmt.Errorf("challenge: new factors: key is %d bytes, need at least %d", len(key), minKeyBytes)
	case issuer == "" || strings.Contains(issuer, ":"):
		return nil, fmt.Errorf("challenge: new factors: issuer %q is empty or holds a ':'", issuer)
	}
	sealKey, err := hkdf.Key(sha256.New, key, nil, sealKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("challenge: new factors: derive seal key: %w", err)
	}
	recoveryKey, err := hkdf.Key(sha256.New, key, nil, recoveryKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("challenge: new factors: derive recovery key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("challenge: new factors: %w", err)
	}
	// The random-nonce mode draws and prepends a 96-bit nonce per seal from
	// crypto/rand. One seal per set-up stays far below GCM's 2^32 messages
	// per key.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("challenge: new factors: %w", err)
	}
	f := &Factors{
		store:       store,
		aead:        aead,
		recoveryKey: recoveryKey,
		issuer:      issuer,
		now:         time.Now,
	}
	for _, opt := range opts {
		opt(f)
	}
	return f, nil
}

// Enabled reports whether the user has an enabled TOTP factor, which is
// what makes a second factor required at login.
func (f *Factors) Enabled(ctx context.Context, userID string) (bool, error) {
	rec, err := f.store.GetTOTP(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("challenge: totp enabled: %w", err)
	}
	return rec.Enabled(), nil
}

// Disable removes the user's TOTP factor, pending or enabled, and all
// recovery codes. Disabling a user without one is not an error. Callers
// decide what proof (a code, a recent login) disabling takes.
func (f *Factors) Disable(ctx context.Context, userID string) error {
	if err := f.store.DeleteTOTP(ctx, userID); err != nil {
		return fmt.Errorf("challenge: disable totp: %w", err)
	}
	return nil
}

// seal encrypts a TOTP secret for userID. The user ID is additional data,
// so a sealed secret copied into another user's row does not open.
func (f *Factors) seal(userID string, secret []byte) []byte {
	return f.aead.Seal(nil, nil, secret, sealAAD(userID))
}

// open reverses seal.
func (f *Factors) open(userID string, sealed []byte) ([]byte, error) {
	secret, err := f.aead.Open(nil, nil, sealed, sealAAD(userID))
	if err != nil {
		return nil, errUnseal
	}
	return secret, nil
}

func sealAAD(userID string) []byte { return []byte("authd-totp:" + userID) }
