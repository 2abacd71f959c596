package challenge

import (
	"context"
	"fmt"
	"time"
)

// LimitEntry is a counter or a lock as stored: a counter's count and what
// is left of its window, or a lock's remaining time (its Count is 1). The
// zero value is an absent or expired key.
type LimitEntry struct {
	Count int64
	TTL   time.Duration
}

// LimitStore keeps the counters and locks behind [Limiter] and
// [SendLimiter]. Implementations: [LimitMemoryStore] (embedded default) and
// [LimitRedisStore]; both pass limittest.Run. Keys are chosen by the
// caller, who keeps counter and lock keys apart; implementations add their
// own prefix.
//
// Each operation is atomic on each key it touches, so any number of authd
// instances can share one store. An operation on several keys is not one
// snapshot across them: each key is read or written on its own.
//
// A store that cannot answer returns an error, never a zero count or an
// absent lock: limiters fail closed only if they see the error.
type LimitStore interface {
	// Hit adds one to the counter at key unless it has already reached
	// limit (>= 1), and reports whether it did. A counter is created by
	// its first hit and expires window later however many hits follow (a
	// fixed window); a refused hit changes nothing. Hit returns the
	// counter as it is after the call.
	Hit(ctx context.Context, key string, limit int64, window time.Duration) (LimitEntry, bool, error)
	// Unhit takes back one earlier hit: it subtracts one from the counter
	// at key, leaving its expiry alone, and removes the counter when that
	// brings it to zero, so that the next hit starts a fresh window rather
	// than inherit what is left of this one. It does nothing to an absent
	// counter.
	Unhit(ctx context.Context, key string) error
	// Get returns the entries at keys, in the same order.
	Get(ctx context.Context, keys ...string) ([]LimitEntry, error)
	// Lock locks key for d (> 0) unless it is already locked for longer: a
	// lock is extended, never shortened, so of concurrent lockers the
	// longest lock wins whatever the order they arrive in.
	Lock(ctx context.Context, key string, d time.Duration) error
	// Reset removes the counters and locks at keys; absent keys are fine.
	Reset(ctx context.Context, keys ...string) error
}

// checkHit rejects arguments with which no Hit could mean anything: a
// limit below 1 would refuse every hit, and a window of 0 would create
// counters that are already expired.
func checkHit(limit int64, window time.Duration) error {
	if limit < 1 {
		return fmt.Errorf("limit %d is below 1", limit)
	}
	if window <= 0 {
		return fmt.Errorf("window %v is not positive", window)
	}
	return nil
}

func checkLock(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("lock duration %v is not positive", d)
	}
	return nil
}
