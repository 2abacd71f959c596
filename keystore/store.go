package keystore

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	ErrNotFound = errors.New("keystore: not found")
	ErrConflict = errors.New("keystore: conflict")
)

// StoredKey is a key as persisted: the private part sealed under the
// key-encryption key. A key's state follows from its timestamps (see State).
// Stores keep a time's instant to the microsecond (PostgreSQL timestamptz),
// not its zone, so writers truncate; a zero time is stored as NULL and comes
// back zero.
type StoredKey struct {
	ID            string // kid: RFC 7638 thumbprint
	PublicKey     []byte // PKIX DER
	PrivateSealed []byte // AES-256-GCM(KEK, PKCS#8 DER), AAD = ID
	CreatedAt     time.Time
	ActivatesAt   time.Time
	RetiresAt     time.Time // zero: signs until replaced
	ExpiresAt     time.Time // zero: published until retired and replaced
}

// Store persists signing keys. Implementations: memory (embedded default)
// and postgres; both pass keystoretest.Run.
type Store interface {
	// ListKeys returns every stored key, oldest first (by CreatedAt, then
	// ID), or an empty list.
	ListKeys(ctx context.Context) ([]StoredKey, error)
	// InsertFirstKey inserts k only if the store holds no key at all and
	// returns ErrConflict otherwise, so instances starting together create
	// exactly one first key.
	InsertFirstKey(ctx context.Context, k StoredKey) error
}
