package keystore

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is an opened signing key. Its state is not stored but follows from its
// timestamps (see [Key.StateAt]), so every instance sharing a store agrees on
// it without writes.
type Key struct {
	ID          string          // kid: RFC 7638 thumbprint of Public
	Private     *rsa.PrivateKey // nil in the public views (Manager.Published)
	Public      *rsa.PublicKey
	CreatedAt   time.Time
	ActivatesAt time.Time // signs from here; published before it as next
	// RetiresAt zero: signs for ever. The Manager's keys have it set once a
	// later key exists (see StoredKey.RetiresAt).
	RetiresAt time.Time
	ExpiresAt time.Time // zero: published for as long as it is stored
}

// LogValue prints only the kid, so logging a Key never leaks key material.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.ID))
}

// State is where a key stands in its life at a given time.
type State int

// The states, in the order a key passes through them. The zero State is not
// a state, so an unset value is never mistaken for one.
const (
	StateNext    State = iota + 1 // published, not signing yet
	StateActive                   // published and signing
	StateRetired                  // published so tokens it signed still verify
	StateExpired                  // unpublished; may be deleted
)

func (s State) String() string {
	switch s {
	case StateNext:
		return "next"
	case StateActive:
		return "active"
	case StateRetired:
		return "retired"
	case StateExpired:
		return "expired"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Published reports whether a key in state s belongs in the JWKS.
func (s State) Published() bool {
	return s == StateNext || s == StateActive || s == StateRetired
}

// StateAt derives k's state at t: next before ActivatesAt, active from
// ActivatesAt until RetiresAt, retired from RetiresAt until ExpiresAt, expired
// from ExpiresAt. A zero RetiresAt or ExpiresAt never arrives.
//
// ExpiresAt is checked first: on inconsistent timestamps (ExpiresAt set but
// before RetiresAt, or RetiresAt zero) a key past its ExpiresAt is expired
// rather than active, because signing with a key that is no longer published
// would mint tokens nobody can verify.
func (k Key) StateAt(t time.Time) State {
	switch {
	case !k.ExpiresAt.IsZero() && !t.Before(k.ExpiresAt):
		return StateExpired
	case t.Before(k.ActivatesAt):
		return StateNext
	case k.RetiresAt.IsZero() || t.Before(k.RetiresAt):
		return StateActive
	default:
		return StateRetired
	}
}

// Generate returns a new RSA key of bits (2048, 3072 or 4096) bits. Since
// Go 1.26 crypto/rsa ignores r and always uses a secure source unless
// GODEBUG=cryptocustomrand=1 is set; tests that want reproducible keys use
// testing/cryptotest.SetGlobalRandom. A nil r means crypto/rand.Reader.
func Generate(r io.Reader, bits int) (*rsa.PrivateKey, error) {
	if err := checkBits(bits); err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	k, err := rsa.GenerateKey(r, bits)
	if err != nil {
		return nil, fmt.Errorf("generate %d-bit RSA key: %w", bits, err)
	}
	return k, nil
}

func checkBits(bits int) error {
	switch bits {
	case 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("RSA key size %d not supported: use 2048, 3072 or 4096", bits)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// without padding: the key's kid.
func Thumbprint(pub *rsa.PublicKey) (string, error) {
	if pub == nil || pub.N == nil {
		return "", errors.New("thumbprint: no RSA public key")
	}
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}
