package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// cleanupBatch is how many sessions one clean-up statement deletes. Each
// takes its tokens with it (one per refresh it saw), so a batch holds its
// row locks for a moment rather than for the whole backlog, while a day's
// worth of ended sessions still takes only a few statements.
const cleanupBatch = 1000

// DeleteExpired deletes the sessions that ended (expired, were revoked or,
// with an idle timeout, went idle) more than retention ago, with their
// tokens, and returns how many it deleted. It works in batches, each its own
// transaction, until one comes back short. If another instance is cleaning
// up the same store, it stops without error and leaves the rest to that
// one; the count is then what this call deleted. On error too, the count is
// what was deleted before it.
func (m *Manager) DeleteExpired(ctx context.Context, retention time.Duration) (int, error) {
	if retention < 0 {
		// A cutoff in the future would delete sessions that are still live.
		return 0, fmt.Errorf("delete expired sessions: retention %v is negative", retention)
	}
	cutoff := m.clock().Add(-retention)
	total := 0
	for {
		n, err := m.store.DeleteExpired(ctx, cutoff, m.idle, cleanupBatch)
		total += n
		switch {
		case errors.Is(err, ErrBusy):
			return total, nil
		case err != nil:
			return total, fmt.Errorf("delete expired sessions: %w", err)
		case n < cleanupBatch:
			return total, nil
		}
	}
}

// RunCleanup calls [Manager.DeleteExpired] with retention at once, so that
// an instance restarted often still cleans up, and then every interval,
// until ctx is done; it then returns nil. Every instance may run it: on a
// shared store one deletes at a time and the others skip their pass. A
// failed pass is logged (see [WithLogger]) and the next tick tries again.
// It returns an error at once if interval is not positive or retention is
// negative.
func (m *Manager) RunCleanup(ctx context.Context, interval, retention time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("session clean-up: interval %v is not positive", interval)
	}
	if retention < 0 {
		return fmt.Errorf("session clean-up: retention %v is negative", retention)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := m.DeleteExpired(ctx, retention)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			m.log.ErrorContext(ctx, "session clean-up failed", "deleted", n, "error", err)
		} else if n > 0 {
			m.log.InfoContext(ctx, "session clean-up", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
