package challenge

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	ErrNotFound = errors.New("challenge: not found")
)

// Record is a short-lived secret as stored: only its keyed hash, the
// attempts made against it, and an opaque payload for whoever consumes it.
type Record struct {
	Hash     []byte
	Payload  []byte
	Attempts int
}

// Store holds short-lived records with a TTL. Implementations: memory
// (embedded default) and redis; both pass challengetest.Run. Keys are
// chosen by the caller; implementations add their own prefix.
type Store interface {
	// Put stores rec under key for ttl, replacing any record there (and
	// resetting its attempts).
	Put(ctx context.Context, key string, rec Record, ttl time.Duration) error
	// Attempt atomically increments the record's attempt counter and
	// returns the record with the new count. ErrNotFound when absent or
	// expired. The TTL is unchanged.
	Attempt(ctx context.Context, key string) (Record, error)
	// Consume deletes the record only if its hash still equals hash, and
	// reports whether it did: of concurrent consumers exactly one wins.
	Consume(ctx context.Context, key string, hash []byte) (bool, error)
	// Delete removes the record if present.
	Delete(ctx context.Context, key string) error
}
