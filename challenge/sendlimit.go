package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// minSendCooldown is the shortest Cooldown a SendPolicy may have: one
// message a minute is the most any destination should receive from authd
// whatever the configuration.
const minSendCooldown = time.Minute

// SendPolicy limits messages (codes and links by email or SMS). Each
// counter runs over a fixed window from its first send.
type SendPolicy struct {
	// Cooldown is the least time between two sends to one destination.
	Cooldown time.Duration
	// PerDestination sends to one destination per DestinationWindow.
	PerDestination    int64
	DestinationWindow time.Duration
	// PerIP sends requested from one client address per IPWindow, to any
	// destination: what stops one client from pumping messages to many
	// numbers (SMS toll fraud).
	PerIP    int64
	IPWindow time.Duration
}

// DefaultSendPolicy returns the policy authd runs with: a minute between
// two sends to one destination, at most 5 an hour to it, and at most 30 an
// hour requested from one address.
func DefaultSendPolicy() SendPolicy {
	return SendPolicy{
		Cooldown:          minSendCooldown,
		PerDestination:    5,
		DestinationWindow: time.Hour,
		PerIP:             30,
		IPWindow:          time.Hour,
	}
}

func (p SendPolicy) validate() error {
	switch {
	case p.Cooldown < minSendCooldown:
		return fmt.Errorf("cooldown %v is below %v", p.Cooldown, minSendCooldown)
	case p.PerDestination < 1 || p.DestinationWindow <= 0:
		return fmt.Errorf("per destination %d per %v: need at least 1 per positive window", p.PerDestination, p.DestinationWindow)
	case p.PerIP < 1 || p.IPWindow <= 0:
		return fmt.Errorf("per ip %d per %v: need at least 1 per positive window", p.PerIP, p.IPWindow)
	}
	return nil
}

// SendLimiter decides whether a message may be sent now. Its state lives
// in a LimitStore, shared by every instance on the store.
type SendLimiter struct {
	store  LimitStore
	policy SendPolicy
}

// NewSendLimiter returns a SendLimiter counting in store under policy.
func NewSendLimiter(store LimitStore, policy SendPolicy) (*SendLimiter, error) {
	if store == nil {
		return nil, errors.New("challenge: new send limiter: nil store")
	}
	if err := policy.validate(); err != nil {
		return nil, fmt.Errorf("challenge: new send limiter: %w", err)
	}
	return &SendLimiter{store: store, policy: policy}, nil
}

// Allow decides whether to send a message to destination at the request
// of ip, and if so counts the send. A refused send counts nothing: a
// client that keeps asking does not push its wait further out. Call it for
// every request that asks for a message, whether or not the address is
// registered, so that a 429 does not tell the two apart.
//
// destination is compared byte for byte, so the caller normalises it (the
// same form as Codes subjects). ip is treated as by Limiter; empty means
// unknown, and only the destination's limits apply.
//
// An error means the store could not be asked: the caller answers 503 and
// does not send.
func (l *SendLimiter) Allow(ctx context.Context, destination, ip string) (Decision, error) {
	if destination == "" {
		return Decision{}, errors.New("challenge: allow send: empty destination")
	}
	type limit struct {
		key    string
		max    int64
		window time.Duration
	}
	limits := make([]limit, 0, 3)
	if ip != "" {
		limits = append(limits, limit{"send:ip:" + ipKey(ip), l.policy.PerIP, l.policy.IPWindow})
	}
	limits = append(limits,
		limit{"send:cooldown:" + destination, 1, l.policy.Cooldown},
		limit{"send:destination:" + destination, l.policy.PerDestination, l.policy.DestinationWindow},
	)

	// Reading first names the longest wait of all, so the client is not
	// sent back after the cooldown only to meet the hourly cap.
	keys := make([]string, len(limits))
	for i, lim := range limits {
		keys[i] = lim.key
	}
	entries, err := l.store.Get(ctx, keys...)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: allow send: %w", err)
	}
	var wait time.Duration
	for i, lim := range limits {
		if entries[i].Count >= lim.max {
			wait = max(wait, entries[i].TTL)
		}
	}
	if wait > 0 {
		return decide(wait), nil
	}

	// Each Hit refuses atomically at its limit, so concurrent requests
	// (the same resend clicked twice, a burst from one client to many
	// numbers) cannot all pass the read above and overshoot. A limit that
	// refuses gives back what the ones before it took.
	for i, lim := range limits {
		e, ok, err := l.store.Hit(ctx, lim.key, lim.max, lim.window)
		if err != nil {
			return Decision{}, fmt.Errorf("challenge: allow send: %w", err)
		}
		if !ok {
			for _, done := range limits[:i] {
				if err := l.store.Unhit(ctx, done.key); err != nil {
					return Decision{}, fmt.Errorf("challenge: allow send: %w", err)
				}
			}
			return decide(e.TTL), nil
		}
	}
	return decide(0), nil
}
