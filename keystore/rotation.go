package keystore

import (
	"context"
	"fmt"
	"time"
)

// Maintain is one maintenance pass, what Run does every poll interval: it
// re-reads the store and, when a rotation is due or a key has expired,
// rotates and deletes inside one Store.UpdateKeys, deciding again under the
// store's lock, so of any number of instances racing exactly one rotates.
// Then it installs what the store holds. On failure the readers keep the
// keys loaded before. A PEM directory is only re-read: its keys are files
// the operator adds and removes.
func (m *Manager) Maintain(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.reload(ctx)
	if err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	if m.pem != nil {
		return nil
	}
	// A first look without the lock: most passes have nothing to do, and a
	// key is generated only when a rotation looks due. If another instance
	// rotates first, the key is thrown away.
	now := m.now()
	var fresh *StoredKey
	switch {
	case m.sched.due(stored, now):
		sk, err := m.newKey()
		if err != nil {
			return fmt.Errorf("maintain signing keys: %w", err)
		}
		fresh = &sk
	case !anyExpired(stored, now):
		return nil
	}
	if _, err := m.update(ctx, fresh, false); err != nil {
		return fmt.Errorf("maintain signing keys: %w", err)
	}
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("maintain signing keys: reload: %w", err)
	}
	return nil
}

// Rotate starts a rotation now, whether or not one is due, and returns the
// next key (without its private part): published at once, signing from
// ActivatesAt, ActivationDelay from now, when the signing key retires. The
// bool reports whether this call created it.
//
// If a key is already waiting to activate, Rotate returns that key and
// changes nothing: adding another one activating sooner would cut the
// waiting key's publication short, and one activating later would only
// delay the rotation already under way. Rotating again once it has
// activated starts a new rotation. Rotate is not for a compromised key:
// that key keeps signing until the next one activates.
//
// Like Maintain, Rotate also deletes expired keys.
//
// A PEM directory cannot be rotated this way; the error wraps ErrReadOnly.
func (m *Manager) Rotate(ctx context.Context) (Key, bool, error) {
	if err := m.check(); err != nil {
		return Key{}, false, err
	}
	if m.pem != nil {
		return Key{}, false, fmt.Errorf("rotate signing keys: %w", m.pem.readOnly())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.reload(ctx); err != nil {
		return Key{}, false, fmt.Errorf("rotate signing keys: %w", err)
	}
	// Generated whether or not a key is waiting: the store's state under
	// the lock decides, and an unused key costs only the generation.
	fresh, err := m.newKey()
	if err != nil {
		return Key{}, false, fmt.Errorf("rotate signing keys: %w", err)
	}
	p, err := m.update(ctx, &fresh, true)
	if err != nil {
		return Key{}, false, fmt.Errorf("rotate signing keys: %w", err)
	}
	if _, err := m.reload(ctx); err != nil {
		return Key{}, false, fmt.Errorf("rotate signing keys: next key %s stored, but reload: %w", p.next.ID, err)
	}
	for _, e := range m.snap.Load().entries {
		if e.key.ID == p.next.ID {
			return e.public, p.rotated, nil
		}
	}
	return Key{}, false, fmt.Errorf("rotate signing keys: next key %s missing after the update", p.next.ID)
}

// update runs one planned pass inside Store.UpdateKeys and logs what it
// wrote. The caller holds mu.
func (m *Manager) update(ctx context.Context, fresh *StoredKey, force bool) (pass, error) {
	var p pass
	err := m.store.UpdateKeys(ctx, func(current []StoredKey) ([]StoredKey, error) {
		// Keys this instance cannot open mean another KEK is at work (an
		// instance not yet restarted after a Rekey): adding a key sealed
		// under this one would leave a store no single KEK opens.
		for _, k := range current {
			if _, err := m.opening(k); err != nil {
				return nil, err
			}
		}
		var err error
		p, err = m.sched.plan(current, m.now(), fresh, force)
		return p.keys, err
	})
	if err != nil {
		return pass{}, err
	}
	if len(p.expired) > 0 {
		m.log.Info("deleted expired signing keys", "kids", p.expired)
	}
	if p.rotated {
		m.log.Info("rotated signing keys: next key published",
			"next", Key{ID: p.next.ID}, "activates_at", p.next.ActivatesAt)
	}
	return p, nil
}

func anyExpired(keys []StoredKey, now time.Time) bool {
	for _, k := range keys {
		if storedState(k, now) == StateExpired {
			return true
		}
	}
	return false
}

// Run calls Maintain at once and then every poll interval until ctx ends,
// logging failures: when the store is unreachable the instance keeps
// signing and publishing the keys it has. Each pass gets the poll interval
// but at least a minute (room to generate a 4096-bit key), so a hung
// connection delays the following passes instead of stopping them all.
// Run returns an error only for an invalid configuration (which Load
// reports first), and nil once ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	timeout := max(m.sched.PollInterval, time.Minute)
	tick := time.NewTicker(m.sched.PollInterval)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := m.Maintain(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.log.Error("signing key maintenance failed; serving the keys loaded before", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
