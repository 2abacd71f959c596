package challenge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Decision is a limiter's answer. When Allowed is false the caller answers
// RATE_LIMITED (Connect ResourceExhausted, HTTP 429) with Retry-After set
// to RetryAfter rounded up to whole seconds. The zero Decision refuses, so
// a caller that ignores an error still does not let the request through.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration
}

func decide(wait time.Duration) Decision {
	return Decision{Allowed: wait <= 0, RetryAfter: max(wait, 0)}
}

// ScopePolicy says how failed credential checks are held back in one
// scope (an account, an address, or the pair).
//
// Failures are counted over a fixed Window that starts at the first. Once
// Max failures fill a window, checks are refused until it ends. A check
// counts as a failure from the moment it is admitted until Success takes it
// back: counting only after a wrong credential would let a burst of
// parallel guesses all pass before the first one failed, so Max holds
// however many checks run at once.
//
// Lock paces the failures below Max (0: no pacing): the failure after the
// first Free locks the scope for Lock, and each further one for twice as
// long as the one before, up to MaxLock.
//
// Window and MaxLock are at most a day, so every refusal ends by itself:
// no run of failures, by anyone, shuts a scope for good.
type ScopePolicy struct {
	Window  time.Duration
	Max     int64
	Free    int64
	Lock    time.Duration
	MaxLock time.Duration
}

// maxScopeWait bounds every wait a policy can impose.
const maxScopeWait = 24 * time.Hour

func (p ScopePolicy) validate() error {
	switch {
	case p.Window <= 0 || p.Window > maxScopeWait:
		return fmt.Errorf("window %v is not in (0, %v]", p.Window, maxScopeWait)
	case p.Max < 1:
		return fmt.Errorf("max %d is below 1", p.Max)
	case p.Lock < 0:
		return fmt.Errorf("lock %v is negative", p.Lock)
	case p.Lock == 0:
		return nil
	case p.Free < 0:
		return fmt.Errorf("free failures %d is negative", p.Free)
	case p.MaxLock < p.Lock || p.MaxLock > maxScopeWait:
		return fmt.Errorf("max lock %v is not in [lock %v, %v]", p.MaxLock, p.Lock, maxScopeWait)
	}
	return nil
}

// lockFor is how long the n-th failure in a window locks the scope. The
// loop doubles at most log2(MaxLock/Lock) times and cannot overflow,
// because MaxLock is at most a day.
func (p ScopePolicy) lockFor(n int64) time.Duration {
	if p.Lock == 0 || n <= p.Free {
		return 0
	}
	d := p.Lock
	for i := p.Free + 1; i < n && d < p.MaxLock; i++ {
		d *= 2
	}
	return min(d, p.MaxLock)
}

// LimitPolicy holds the three scopes every credential check is counted in.
type LimitPolicy struct {
	// Account counts failures against one account from every address,
	// for attackers who spread over many. Its refusals shut out the
	// account's owner as well, so NewLimiter insists that one address can
	// never fill it on its own.
	Account ScopePolicy
	// IP counts failures from one client address against every account:
	// credential stuffing and password spraying.
	IP ScopePolicy
	// AccountIP counts failures against one account from one address. It
	// shuts early and paces hard: it stops a guesser on one address
	// without touching the owner anywhere else.
	AccountIP ScopePolicy
}

// DefaultLimitPolicy returns the policy authd runs with:
//
//   - AccountIP: 9 failures per hour; after 4 free ones, waits of 1, 2, 4
//     and 8 minutes between the next. A guesser on one address gets 9
//     guesses an hour at one account, the last ones minutes apart.
//   - Account: 20 failures per 15 minutes, then refused until the 15
//     minutes are over. Two pair windows at most overlap 15 minutes, so
//     one address can fail at most 18 times in any account window: a lone
//     attacker never locks the owner out, and attackers on several
//     addresses do so for at most 15 minutes at a time.
//   - IP: 100 failures per 15 minutes across accounts: room for the
//     typos of many users behind one NAT, none for a stuffing list.
//
// Keycloak's brute-force detector, the reference, waits after 30 failures
// and caps its waits at 15 minutes; this is stricter on the pair and the
// account and keeps the cap for the account.
func DefaultLimitPolicy() LimitPolicy {
	return LimitPolicy{
		Account:   ScopePolicy{Window: 15 * time.Minute, Max: 20},
		IP:        ScopePolicy{Window: 15 * time.Minute, Max: 100},
		AccountIP: ScopePolicy{Window: time.Hour, Max: 9, Free: 4, Lock: time.Minute, MaxLock: 15 * time.Minute},
	}
}

// Limiter throttles credential checks (password, one-time code, TOTP,
// recovery code, refresh token) per account, per client address and per
// (account, address) pair. Its state lives in a LimitStore, so every
// instance sharing the store sees the same counts.
//
// The protocol for one credential check:
//
//  1. Check. If it refuses, answer 429 without looking at the credential.
//     If it admits, the check is counted as a failure from now on.
//  2. Verify the credential.
//  3. Wrong: Failure, which paces the next checks. Right: Success, once the
//     whole login has succeeded, which takes the count back.
//
// A check whose success path must stay off the store (the refresh grant)
// calls Check and then Failure only once its credential has failed; the
// failure is counted all the same.
//
// Any error from the Limiter means the store could not be asked: the
// caller answers 503 and does not verify the credential, so throttling
// fails closed.
//
// Accounts are opaque strings chosen by the caller (a normalised login or
// a user id, the same at every step). Count a login that names no known
// user under that login too, so throttling does not reveal which accounts
// exist. ip is the client address as text: an IPv4-mapped IPv6 address
// counts as the IPv4 one and an IPv6 address counts as its /64, because
// one subscriber usually holds a whole /64; text that is not an address is
// used as given. Empty ip means unknown: only the account scope applies.
// Empty account means none (an unknown refresh token, say): only the
// address scope applies.
type Limiter struct {
	store  LimitStore
	policy LimitPolicy
}

// NewLimiter returns a Limiter counting in store under policy.
func NewLimiter(store LimitStore, policy LimitPolicy) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("challenge: new limiter: nil store")
	}
	for _, s := range []struct {
		name string
		p    ScopePolicy
	}{{"account", policy.Account}, {"ip", policy.IP}, {"account ip", policy.AccountIP}} {
		if err := s.p.validate(); err != nil {
			return nil, fmt.Errorf("challenge: new limiter: %s scope: %w", s.name, err)
		}
	}
	// At most ceil(account window / pair window) + 1 pair windows overlap
	// one account window, each holding at most AccountIP.Max failures.
	a, p := policy.Account, policy.AccountIP
	overlap := int64((a.Window+p.Window-1)/p.Window) + 1
	if p.Max > (a.Max-1)/overlap {
		return nil, fmt.Errorf("challenge: new limiter: one address could fail %d times in an account window and fill the account scope (max %d) on its own",
			overlap*p.Max, a.Max)
	}
	return &Limiter{store: store, policy: policy}, nil
}

// Check admits or refuses one credential check for account from ip. An
// admitted check is counted as a failure in every scope until Success.
// A refused one counts nothing, so a client that ignores Retry-After does
// not make its wait longer.
func (l *Limiter) Check(ctx context.Context, account, ip string) (Decision, error) {
	scopes, err := l.scopes(account, ip)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: check limit: %w", err)
	}
	// Reading first keeps the common refusal, a locked-out client trying
	// again, to one round trip that writes nothing.
	_, wait, err := l.read(ctx, scopes)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: check limit: %w", err)
	}
	if wait > 0 {
		return decide(wait), nil
	}
	for i, s := range scopes {
		e, ok, err := l.store.Hit(ctx, s.failures, s.policy.Max, s.policy.Window)
		if err != nil {
			return Decision{}, fmt.Errorf("challenge: check limit: %w", err)
		}
		if !ok {
			// Concurrent checks filled this window since it was read:
			// give back what this check took in the scopes before it.
			for _, done := range scopes[:i] {
				if err := l.store.Unhit(ctx, done.failures); err != nil {
					return Decision{}, fmt.Errorf("challenge: check limit: %w", err)
				}
			}
			return decide(e.TTL), nil
		}
	}
	return decide(0), nil
}

// Failure settles an admitted check whose credential was wrong: Check has
// counted it already, so Failure only applies the pacing its count calls
// for. It returns what Check would now answer (the caller may send
// RetryAfter with its 401).
func (l *Limiter) Failure(ctx context.Context, account, ip string) (Decision, error) {
	scopes, err := l.scopes(account, ip)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: record failure: %w", err)
	}
	counts, wait, err := l.read(ctx, scopes)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: record failure: %w", err)
	}
	for i, s := range scopes {
		if d := s.policy.lockFor(counts[i]); d > 0 {
			if err := l.store.Lock(ctx, s.lock, d); err != nil {
				return Decision{}, fmt.Errorf("challenge: record failure: %w", err)
			}
			wait = max(wait, d)
		}
	}
	return decide(wait), nil
}

// Success settles an admitted check whose credential was right: it clears
// the account's and the pair's failures and locks, and takes back from
// the address only the one failure its Check counted, because the
// address's other failures may be against other accounts.
//
// Call it once the whole login has succeeded, not after a right password
// that leads to a second-factor step: that would let someone who knows the
// password clear the count of their TOTP guesses by logging in again.
func (l *Limiter) Success(ctx context.Context, account, ip string) error {
	scopes, err := l.scopes(account, ip)
	if err != nil {
		return fmt.Errorf("challenge: record success: %w", err)
	}
	var cleared []string
	for _, s := range scopes {
		if s.forgivenBySuccess {
			cleared = append(cleared, s.failures, s.lock)
			continue
		}
		if err := l.store.Unhit(ctx, s.failures); err != nil {
			return fmt.Errorf("challenge: record success: %w", err)
		}
	}
	if err := l.store.Reset(ctx, cleared...); err != nil {
		return fmt.Errorf("challenge: record success: %w", err)
	}
	return nil
}

// limitScope is one scope's counter and lock keys and its policy.
type limitScope struct {
	failures, lock    string
	policy            ScopePolicy
	forgivenBySuccess bool
}

// scopes lists the scopes account and ip fall in, the address first: when
// a concurrent check fills a window, the scopes before it are given back,
// and the account, which must never fill because of one address, comes
// last so that it is counted only once the others have admitted.
func (l *Limiter) scopes(account, ip string) ([]limitScope, error) {
	if account == "" && ip == "" {
		return nil, errors.New("neither account nor ip given")
	}
	scopes := make([]limitScope, 0, 3)
	if ip != "" {
		addr := ipKey(ip)
		scopes = append(scopes, newLimitScope("ip:"+addr, l.policy.IP, false))
		if account != "" {
			// The length prefix keeps the pair unambiguous: addresses
			// (IPv6 above all) and accounts may both contain ':'.
			pair := "pair:" + strconv.Itoa(len(addr)) + ":" + addr + ":" + account
			scopes = append(scopes, newLimitScope(pair, l.policy.AccountIP, true))
		}
	}
	if account != "" {
		scopes = append(scopes, newLimitScope("account:"+account, l.policy.Account, true))
	}
	return scopes, nil
}

func newLimitScope(name string, p ScopePolicy, forgivenBySuccess bool) limitScope {
	return limitScope{failures: "fail:" + name, lock: "lock:" + name, policy: p, forgivenBySuccess: forgivenBySuccess}
}

// read returns each scope's failure count and how long until every scope
// admits checks again (0 if they all do now).
func (l *Limiter) read(ctx context.Context, scopes []limitScope) ([]int64, time.Duration, error) {
	keys := make([]string, 0, 2*len(scopes))
	for _, s := range scopes {
		keys = append(keys, s.failures, s.lock)
	}
	entries, err := l.store.Get(ctx, keys...)
	if err != nil {
		return nil, 0, err
	}
	counts := make([]int64, len(scopes))
	var wait time.Duration
	for i, s := range scopes {
		failures, lock := entries[2*i], entries[2*i+1]
		counts[i] = failures.Count
		if failures.Count >= s.policy.Max {
			wait = max(wait, failures.TTL)
		}
		wait = max(wait, lock.TTL)
	}
	return counts, wait, nil
}

// ipKey is the name an address is counted under (see Limiter).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
