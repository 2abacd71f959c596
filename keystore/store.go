package keystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	// ErrConflict: fn's answer to UpdateKeys names a kid twice.
	ErrConflict = errors.New("keystore: conflict")
	// ErrReadOnly: the store cannot be written (a PEM directory); its keys
	// are managed outside authd.
	ErrReadOnly = errors.New("keystore: read-only store")
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
	// RetiresAt zero: signs until a key activating later activates; the
	// Manager then treats it as retired at that activation and expiring
	// Schedule.RetiredFor after it.
	RetiresAt time.Time
	ExpiresAt time.Time // zero: published until retired and replaced
}

// Store persists signing keys. Implementations: memory (embedded default)
// and postgres, which both pass keystoretest.Run, and the read-only PEM
// directory.
type Store interface {
	// ListKeys returns every stored key, oldest first (by CreatedAt, then
	// ID), or an empty list.
	ListKeys(ctx context.Context) ([]StoredKey, error)
	// UpdateKeys calls fn with every stored key (as ListKeys orders them)
	// under a lock that every UpdateKeys on the same store takes, in any
	// process, and makes the store hold exactly what fn returns: kids fn
	// added are inserted, kids whose fields it changed are updated and kids
	// it dropped are deleted, all or nothing. Deciding inside fn ("no key
	// yet", "rotation due") therefore happens once however many instances
	// race.
	//
	// fn owns its argument and may modify it. When fn returns an error,
	// nothing is written and UpdateKeys returns that error as is; when it
	// returns its input unchanged, nothing is written. An answer naming a
	// kid twice fails with ErrConflict. fn runs while other writers wait, so
	// it must be quick (generate keys before calling) and must not call the
	// store.
	UpdateKeys(ctx context.Context, fn func(current []StoredKey) ([]StoredKey, error)) error
}

// keyChanges are the writes that turn one key list into another.
type keyChanges struct {
	insert, update []StoredKey
	remove         []string // kids
}

func (c keyChanges) empty() bool {
	return len(c.insert) == 0 && len(c.update) == 0 && len(c.remove) == 0
}

// diffKeys compares fn's answer (after) with what the store held (before).
func diffKeys(before, after []StoredKey) (keyChanges, error) {
	old := make(map[string]StoredKey, len(before))
	for _, k := range before {
		old[k.ID] = k
	}
	seen := make(map[string]bool, len(after))
	var c keyChanges
	for _, k := range after {
		if k.ID == "" {
			return keyChanges{}, errors.New("keystore: a key without a kid")
		}
		if seen[k.ID] {
			return keyChanges{}, fmt.Errorf("%w: kid %s given twice", ErrConflict, k.ID)
		}
		seen[k.ID] = true
		switch o, ok := old[k.ID]; {
		case !ok:
			c.insert = append(c.insert, k)
		case !sameStoredKey(o, k):
			c.update = append(c.update, k)
		}
	}
	for _, k := range before {
		if !seen[k.ID] {
			c.remove = append(c.remove, k.ID)
		}
	}
	return c, nil
}

// sameStoredKey compares instants, not zones or monotonic readings, since
// that is what stores keep.
func sameStoredKey(a, b StoredKey) bool {
	return a.ID == b.ID &&
		bytes.Equal(a.PublicKey, b.PublicKey) &&
		bytes.Equal(a.PrivateSealed, b.PrivateSealed) &&
		sameInstant(a.CreatedAt, b.CreatedAt) &&
		sameInstant(a.ActivatesAt, b.ActivatesAt) &&
		sameInstant(a.RetiresAt, b.RetiresAt) &&
		sameInstant(a.ExpiresAt, b.ExpiresAt)
}

func sameInstant(a, b time.Time) bool {
	return a.Equal(b) && a.IsZero() == b.IsZero()
}

// cloneStoredKey copies the byte slices, so neither side of a store can
// change what the other holds.
func cloneStoredKey(k StoredKey) StoredKey {
	k.PublicKey = bytes.Clone(k.PublicKey)
	k.PrivateSealed = bytes.Clone(k.PrivateSealed)
	return k
}

func cloneStoredKeys(keys []StoredKey) []StoredKey {
	out := make([]StoredKey, len(keys))
	for i, k := range keys {
		out[i] = cloneStoredKey(k)
	}
	return out
}
