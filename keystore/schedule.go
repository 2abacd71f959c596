package keystore

import (
	"errors"
	"fmt"
	"time"
)

// Schedule is the timing of automatic key rotation, set by the With…
// options and checked by Validate. Every duration it derives has one job:
// a verifier that caches the JWKS for at most JWKSMaxAge never meets a kid
// it does not have, however many instances share the store.
type Schedule struct {
	// RotationPeriod is how long a key signs before the next rotation is
	// due: a rotation is due when the newest key activated RotationPeriod
	// ago or more and no key is waiting to activate. Default 30 days.
	RotationPeriod time.Duration
	// JWKSMaxAge is the JWKS Cache-Control max-age: the longest a gateway
	// keeps a fetched key set. Default 10 minutes.
	JWKSMaxAge time.Duration
	// PollInterval is how often every instance re-reads the store (Run),
	// hence the longest it takes an instance to publish a key another
	// instance added. Default min(1 minute, JWKSMaxAge/2).
	PollInterval time.Duration
	// TokenLifetime is the longest lifetime of anything signed (access and
	// ID tokens, for every client). Default 15 minutes.
	TokenLifetime time.Duration
	// Leeway absorbs clock skew between instances and gateways and the time
	// a poll takes. Default 1 minute.
	Leeway time.Duration
}

const (
	defaultRotationPeriod = 30 * 24 * time.Hour
	defaultJWKSMaxAge     = 10 * time.Minute
	defaultTokenLifetime  = 15 * time.Minute
	defaultLeeway         = time.Minute
)

// defaultPollInterval is a minute, or half the JWKS max-age when that is
// shorter, so instances follow the store at least as closely as gateways
// follow the JWKS.
func defaultPollInterval(maxAge time.Duration) time.Duration {
	return min(time.Minute, maxAge/2)
}

// ActivationDelay is how long after a rotation the new key starts signing:
//
//	PollInterval + JWKSMaxAge + Leeway
//
// Every instance has re-read the store, and so publishes the new key, by
// PollInterval after the rotation. A gateway's cached JWKS is at most
// JWKSMaxAge old, so whatever copy it holds once the key signs was fetched
// after every instance published it. Leeway covers skew and poll latency.
func (s Schedule) ActivationDelay() time.Duration {
	return s.PollInterval + s.JWKSMaxAge + s.Leeway
}

// RetiredFor is how long a key stays published after it stops signing:
//
//	TokenLifetime + Leeway
//
// after which nothing it signed is still valid, so it expires and the next
// maintenance pass deletes it. A retiring key's RetiresAt is the next key's
// ActivatesAt and its ExpiresAt is RetiresAt + RetiredFor.
func (s Schedule) RetiredFor() time.Duration {
	return s.TokenLifetime + s.Leeway
}

// Validate refuses timings under which rotation could present a verifier
// with an unknown kid, or that are almost certainly a mistake.
func (s Schedule) Validate() error {
	switch {
	case s.JWKSMaxAge <= 0:
		return fmt.Errorf("keystore: JWKS max-age %s must be positive: rotation publishes keys ahead by the time gateways cache the key set", s.JWKSMaxAge)
	case s.PollInterval <= 0:
		return fmt.Errorf("keystore: poll interval %s must be positive", s.PollInterval)
	case s.PollInterval > s.JWKSMaxAge:
		return fmt.Errorf("keystore: poll interval %s exceeds the JWKS max-age %s: instances would follow the store more slowly than gateways follow the JWKS", s.PollInterval, s.JWKSMaxAge)
	case s.Leeway <= 0:
		return fmt.Errorf("keystore: leeway %s must be positive: it covers clock skew and the time a poll takes", s.Leeway)
	case s.TokenLifetime <= 0:
		return fmt.Errorf("keystore: token lifetime %s must be positive", s.TokenLifetime)
	case s.RotationPeriod < 2*s.ActivationDelay():
		return fmt.Errorf("keystore: rotation period %s is shorter than twice the activation delay (poll interval %s + JWKS max-age %s + leeway %s = %s): keys would spend much of their life waiting to sign",
			s.RotationPeriod, s.PollInterval, s.JWKSMaxAge, s.Leeway, s.ActivationDelay())
	case s.RotationPeriod < s.TokenLifetime:
		return fmt.Errorf("keystore: rotation period %s is shorter than the token lifetime %s: keys would retire faster than their tokens expire and pile up in the JWKS",
			s.RotationPeriod, s.TokenLifetime)
	}
	return nil
}

// WithRotationPeriod sets Schedule.RotationPeriod (default 30 days).
func WithRotationPeriod(d time.Duration) Option {
	return func(m *Manager) { m.sched.RotationPeriod = d }
}

// WithJWKSMaxAge sets the JWKS Cache-Control max-age, Schedule.JWKSMaxAge
// (default 10 minutes). Rotation publishes a key at least this long before
// it signs.
func WithJWKSMaxAge(d time.Duration) Option {
	return func(m *Manager) { m.sched.JWKSMaxAge = d }
}

// WithPollInterval sets Schedule.PollInterval (default min(1 minute,
// JWKSMaxAge/2)).
func WithPollInterval(d time.Duration) Option {
	return func(m *Manager) { m.sched.PollInterval, m.pollSet = d, true }
}

// WithTokenLifetime sets Schedule.TokenLifetime (default 15 minutes): the
// longest access or ID token lifetime of any client.
func WithTokenLifetime(d time.Duration) Option {
	return func(m *Manager) { m.sched.TokenLifetime = d }
}

// WithLeeway sets Schedule.Leeway (default 1 minute).
func WithLeeway(d time.Duration) Option {
	return func(m *Manager) { m.sched.Leeway = d }
}

// pass is what one maintenance pass does to the stored keys.
type pass struct {
	keys    []StoredKey // what the store is to hold
	expired []string    // kids dropped because they expired
	next    *StoredKey  // the key waiting to activate afterwards; nil if none
	rotated bool        // next was added by this pass
}

// plan decides a pass over keys at now. It drops the keys expired at now
// and, when force is set or a rotation is due, adds fresh as the next key:
// activating ActivationDelay from now, with every key that had no
// retirement retiring then and expiring RetiredFor later.
//
// It never adds a key while another is waiting to activate, forced or not:
// a second next key activating sooner would cut the first one's
// publication short, and one activating later changes nothing but the wait.
// fresh nil means no key is at hand, so the pass cannot rotate.
func (s Schedule) plan(keys []StoredKey, now time.Time, fresh *StoredKey, force bool) (pass, error) {
	// Stores keep microseconds; what is written is what is read back.
	now = now.UTC().Truncate(time.Microsecond)
	var p pass
	for _, k := range keys {
		switch storedState(k, now) {
		case StateExpired:
			p.expired = append(p.expired, k.ID)
			continue
		case StateNext:
			if p.next == nil || k.ActivatesAt.After(p.next.ActivatesAt) {
				n := k
				p.next = &n
			}
		}
		p.keys = append(p.keys, k)
	}
	if p.next != nil || fresh == nil || !(force || s.due(p.keys, now)) {
		return p, nil
	}
	for _, k := range p.keys {
		if k.ID == fresh.ID {
			return pass{}, fmt.Errorf("new signing key %s is already stored", k.ID)
		}
	}
	activates := now.Add(s.ActivationDelay()).Truncate(time.Microsecond)
	for i := range p.keys {
		if k := &p.keys[i]; k.RetiresAt.IsZero() {
			k.RetiresAt = activates
			if k.ExpiresAt.IsZero() {
				k.ExpiresAt = activates.Add(s.RetiredFor()).Truncate(time.Microsecond)
			}
		}
	}
	n := *fresh
	n.CreatedAt, n.ActivatesAt = now, activates
	n.RetiresAt, n.ExpiresAt = time.Time{}, time.Time{}
	p.keys = append(p.keys, n)
	p.next, p.rotated = &n, true
	return p, nil
}

// due reports whether keys call for a rotation at now: none is waiting to
// activate and the newest activated RotationPeriod ago or more (or every
// key has expired).
func (s Schedule) due(keys []StoredKey, now time.Time) bool {
	var newest time.Time
	for _, k := range keys {
		switch storedState(k, now) {
		case StateExpired:
			continue
		case StateNext:
			return false
		}
		if k.ActivatesAt.After(newest) {
			newest = k.ActivatesAt
		}
	}
	return newest.IsZero() || !now.Before(newest.Add(s.RotationPeriod))
}

// storedState is a stored key's state at t by its stored timestamps alone.
func storedState(k StoredKey, t time.Time) State {
	return Key{ActivatesAt: k.ActivatesAt, RetiresAt: k.RetiresAt, ExpiresAt: k.ExpiresAt}.StateAt(t)
}

// errStoreEmpty is what a pass over an empty store reports: Load creates the
// first key; maintenance never does, since an empty store while keys are
// loaded is a wiped or wrong database.
var errStoreEmpty = errors.New("store holds no key; keeping the loaded ones")
