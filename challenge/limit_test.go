package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/testclock"
)

func newLimitClock() *testclock.Clock {
	return testclock.New(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC))
}

func newTestLimiter(t *testing.T, store challenge.LimitStore, p challenge.LimitPolicy) *challenge.Limiter {
	t.Helper()
	l, err := challenge.NewLimiter(store, p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newMemoryLimiter returns a Limiter on a memory store read through clk.
func newMemoryLimiter(t *testing.T, clk *testclock.Clock, p challenge.LimitPolicy) *challenge.Limiter {
	t.Helper()
	return newTestLimiter(t, challenge.NewLimitMemoryStore(challenge.LimitMemoryClock(clk.Now)), p)
}

func limiterCheck(t *testing.T, l *challenge.Limiter, account, ip string) challenge.Decision {
	t.Helper()
	d, err := l.Check(context.Background(), account, ip)
	if err != nil {
		t.Fatalf("Check(%q, %q): %v", account, ip, err)
	}
	return d
}

// limiterFail makes one wrong credential check as a caller does: Check, and
// Failure only if admitted. It returns Failure's decision, or Check's if
// the check was refused.
func limiterFail(t *testing.T, l *challenge.Limiter, account, ip string) (admitted bool, d challenge.Decision) {
	t.Helper()
	if d := limiterCheck(t, l, account, ip); !d.Allowed {
		return false, d
	}
	d, err := l.Failure(context.Background(), account, ip)
	if err != nil {
		t.Fatalf("Failure(%q, %q): %v", account, ip, err)
	}
	return true, d
}

// limiterSucceed makes one right credential check; the test fails if Check refuses.
func limiterSucceed(t *testing.T, l *challenge.Limiter, account, ip string) {
	t.Helper()
	if d := limiterCheck(t, l, account, ip); !d.Allowed {
		t.Fatalf("Check(%q, %q) = %+v, want allowed", account, ip, d)
	}
	if err := l.Success(context.Background(), account, ip); err != nil {
		t.Fatalf("Success(%q, %q): %v", account, ip, err)
	}
}

func wantAllowed(t *testing.T, what string, d challenge.Decision) {
	t.Helper()
	if !d.Allowed || d.RetryAfter != 0 {
		t.Fatalf("%s = %+v, want allowed", what, d)
	}
}

func wantRefused(t *testing.T, what string, d challenge.Decision, retryAfter time.Duration) {
	t.Helper()
	if d.Allowed || d.RetryAfter != retryAfter {
		t.Fatalf("%s = %+v, want refused with RetryAfter %v", what, d, retryAfter)
	}
}

func TestNewLimiterValidates(t *testing.T) {
	if _, err := challenge.NewLimiter(challenge.NewLimitMemoryStore(), challenge.DefaultLimitPolicy()); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	if _, err := challenge.NewLimiter(nil, challenge.DefaultLimitPolicy()); err == nil {
		t.Error("nil store: no error")
	}
	for _, tt := range []struct {
		name string
		edit func(p *challenge.LimitPolicy)
		want string
	}{
		{"zero window", func(p *challenge.LimitPolicy) { p.IP.Window = 0 }, "window"},
		{"window over a day", func(p *challenge.LimitPolicy) { p.Account.Window = 25 * time.Hour }, "window"},
		{"zero max", func(p *challenge.LimitPolicy) { p.IP.Max = 0 }, "max 0"},
		{"negative lock", func(p *challenge.LimitPolicy) { p.Account.Lock = -time.Second }, "lock"},
		{"negative free", func(p *challenge.LimitPolicy) { p.AccountIP.Free = -1 }, "free"},
		{"max lock below lock", func(p *challenge.LimitPolicy) { p.AccountIP.MaxLock = time.Second }, "max lock"},
		{"max lock over a day", func(p *challenge.LimitPolicy) { p.AccountIP.MaxLock = 48 * time.Hour }, "max lock"},
		// 2 pair windows of 10 could fill an account window of 20 from
		// one address.
		{"one address fills the account", func(p *challenge.LimitPolicy) { p.AccountIP.Max = 10 }, "on its own"},
		{"short pair windows fill the account", func(p *challenge.LimitPolicy) { p.AccountIP.Window = 5 * time.Minute }, "on its own"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := challenge.DefaultLimitPolicy()
			tt.edit(&p)
			_, err := challenge.NewLimiter(challenge.NewLimitMemoryStore(), p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewLimiter error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// One address failing against one account under the default policy: four
// free failures, then waits that double, then the pair's window is full.
func TestLimiterPacesFailures(t *testing.T) {
	clk := newLimitClock()
	l := newMemoryLimiter(t, clk, challenge.DefaultLimitPolicy())
	start := clk.Now()
	for i, wait := range []time.Duration{
		0, 0, 0, 0, // free
		time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		45 * time.Minute, // the 9th fills the hour that began with the 1st, 15 minutes ago
	} {
		n := i + 1
		admitted, d := limiterFail(t, l, "alice", "192.0.2.1")
		if !admitted {
			t.Fatalf("failure %d at +%v: refused with %+v", n, clk.Now().Sub(start), d)
		}
		if wait == 0 {
			wantAllowed(t, fmt.Sprintf("failure %d", n), d)
			continue
		}
		wantRefused(t, fmt.Sprintf("failure %d", n), d, wait)
		// The wait holds until its last instant, then lifts by itself.
		clk.Advance(wait - time.Second)
		wantRefused(t, fmt.Sprintf("Check 1s before the wait after failure %d ends", n), limiterCheck(t, l, "alice", "192.0.2.1"), time.Second)
		clk.Advance(time.Second)
	}
	wantAllowed(t, "Check once the pair's hour is over", limiterCheck(t, l, "alice", "192.0.2.1"))
}

// A client that ignores Retry-After gains nothing and loses nothing: the
// refused checks are not counted, so the next failure is paced as the next
// one in line, not as the hundredth.
func TestLimiterRefusedChecksCountNothing(t *testing.T) {
	clk := newLimitClock()
	l := newMemoryLimiter(t, clk, challenge.DefaultLimitPolicy())
	for range 5 {
		limiterFail(t, l, "alice", "192.0.2.1")
	}
	for range 100 {
		if admitted, _ := limiterFail(t, l, "alice", "192.0.2.1"); admitted {
			t.Fatal("a check during the wait was admitted")
		}
	}
	clk.Advance(time.Minute)
	_, d := limiterFail(t, l, "alice", "192.0.2.1")
	wantRefused(t, "failure 6 after 100 refused checks", d, 2*time.Minute)
}

func TestLimiterSuccess(t *testing.T) {
	p := challenge.LimitPolicy{
		Account:   challenge.ScopePolicy{Window: 15 * time.Minute, Max: 5},
		IP:        challenge.ScopePolicy{Window: 15 * time.Minute, Max: 6},
		AccountIP: challenge.ScopePolicy{Window: time.Hour, Max: 2},
	}

	t.Run("clears the pair", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), p)
		limiterFail(t, l, "alice", "192.0.2.1")
		limiterSucceed(t, l, "alice", "192.0.2.1") // the pair is full until this clears it
		if admitted, d := limiterFail(t, l, "alice", "192.0.2.1"); !admitted {
			t.Fatalf("failure after a success refused with %+v, want admitted", d)
		}
	})

	t.Run("clears the account", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), p)
		limiterFail(t, l, "alice", "192.0.2.1")
		limiterFail(t, l, "alice", "192.0.2.1")
		limiterFail(t, l, "alice", "192.0.2.2")
		limiterFail(t, l, "alice", "192.0.2.2") // the account at 4 of 5
		limiterSucceed(t, l, "alice", "192.0.2.3")
		limiterFail(t, l, "alice", "192.0.2.4")
		limiterFail(t, l, "alice", "192.0.2.4")
		limiterFail(t, l, "alice", "192.0.2.5") // 3 failures since the success, not 8
		wantAllowed(t, "Check from a fresh address", limiterCheck(t, l, "alice", "192.0.2.6"))
	})

	t.Run("takes back only its own check from the address", func(t *testing.T) {
		clk := newLimitClock()
		l := newMemoryLimiter(t, clk, p)
		limiterFail(t, l, "alice", "192.0.2.1")
		limiterFail(t, l, "bob", "192.0.2.1")
		limiterFail(t, l, "carol", "192.0.2.1")
		limiterSucceed(t, l, "dave", "192.0.2.1") // the address keeps its 3 failures, not 4 nor 0
		limiterFail(t, l, "erin", "192.0.2.1")
		limiterFail(t, l, "frank", "192.0.2.1")
		if admitted, d := limiterFail(t, l, "grace", "192.0.2.1"); !admitted {
			t.Fatalf("6th failure refused with %+v: Success did not take back its own check", d)
		}
		wantRefused(t, "Check from the full address", limiterCheck(t, l, "heidi", "192.0.2.1"), 15*time.Minute)
		wantAllowed(t, "Check from another address", limiterCheck(t, l, "heidi", "192.0.2.2"))
	})
}

// The scenario: an attacker on one address fails against alice
// again and again; alice, elsewhere, must not be locked out.
func TestLimiterLoneAttackerNeverLocksOwnerOut(t *testing.T) {
	const attacker, owner = "198.51.100.7", "203.0.113.9"

	t.Run("one at a time", func(t *testing.T) {
		clk := newLimitClock()
		l := newMemoryLimiter(t, clk, challenge.DefaultLimitPolicy())
		admitted := 0
		for i := range 720 { // a guess every 10 seconds for two hours
			if ok, _ := limiterFail(t, l, "alice", attacker); ok {
				admitted++
			}
			if i%30 == 29 {
				// alice logs in every 5 minutes, never held back.
				limiterSucceed(t, l, "alice", owner)
			}
			clk.Advance(10 * time.Second)
		}
		if admitted != 18 {
			t.Fatalf("%d of the attacker's 720 guesses were checked, want 18 (9 an hour)", admitted)
		}
	})

	t.Run("in one burst", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), challenge.DefaultLimitPolicy())
		if got := limiterBurst(t, l, "alice", attacker, 50); got != 9 {
			t.Fatalf("%d of 50 parallel guesses were checked, want 9: the pair's limit must hold under concurrency", got)
		}
		wantAllowed(t, "alice's Check after the burst", limiterCheck(t, l, "alice", owner))
	})

	t.Run("from many addresses the lock is temporary", func(t *testing.T) {
		clk := newLimitClock()
		l := newMemoryLimiter(t, clk, challenge.DefaultLimitPolicy())
		admitted := 0
		for i := range 10 {
			for range 5 {
				if ok, _ := limiterFail(t, l, "alice", fmt.Sprintf("198.51.100.%d", i)); ok {
					admitted++
				}
			}
		}
		if admitted != 20 {
			t.Fatalf("%d of 50 failures from 10 addresses were checked, want 20 (the account's limit)", admitted)
		}
		d := limiterCheck(t, l, "alice", owner)
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 15*time.Minute {
			t.Fatalf("alice's Check = %+v, want refused for at most 15 minutes", d)
		}
		clk.Advance(d.RetryAfter)
		limiterSucceed(t, l, "alice", owner)
	})
}

// limiterBurst runs n wrong credential checks at once, in the worst
// order: every Check before the first Failure, as when verification is
// slow. It returns how many were admitted.
func limiterBurst(t *testing.T, l *challenge.Limiter, account, ip string, n int) int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		admitted atomic.Int32
		start    = make(chan struct{})
		errs     = make(chan error, n)
	)
	for range n {
		wg.Go(func() {
			<-start
			d, err := l.Check(context.Background(), account, ip)
			if err != nil {
				errs <- err
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range admitted.Load() {
		if _, err := l.Failure(context.Background(), account, ip); err != nil {
			t.Fatal(err)
		}
	}
	return int(admitted.Load())
}

func TestLimiterAddresses(t *testing.T) {
	p := challenge.LimitPolicy{
		Account:   challenge.ScopePolicy{Window: 15 * time.Minute, Max: 100},
		IP:        challenge.ScopePolicy{Window: 15 * time.Minute, Max: 100},
		AccountIP: challenge.ScopePolicy{Window: time.Hour, Max: 2},
	}
	for _, tt := range []struct {
		name       string
		first, two string
		same       bool
	}{
		{"same IPv4", "192.0.2.1", "192.0.2.1", true},
		{"other IPv4", "192.0.2.1", "192.0.2.2", false},
		{"IPv4-mapped IPv6", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"same /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"other /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"zone", "fe80::1%eth0", "fe80::2", true},
		{"spelling of IPv6", "2001:DB8:1:2:0:0:0:1", "2001:db8:1:2::1", true},
		{"not an address", "unix:/run/authd.sock", "unix:/run/authd.sock", true},
		{"prefix of another", "192.0.2.1", "192.0.2.10", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newMemoryLimiter(t, newLimitClock(), p)
			limiterFail(t, l, "alice", tt.first)
			limiterFail(t, l, "alice", tt.first) // the pair is full
			d := limiterCheck(t, l, "alice", tt.two)
			if d.Allowed == tt.same {
				t.Fatalf("Check from %q after filling the pair from %q = %+v; want allowed %v", tt.two, tt.first, d, !tt.same)
			}
		})
	}
}

// Pairs are keyed so that no (account, address) pair can pose as another,
// whatever ':' either holds.
func TestLimiterPairsAreUnambiguous(t *testing.T) {
	p := challenge.LimitPolicy{
		Account:   challenge.ScopePolicy{Window: 15 * time.Minute, Max: 100},
		IP:        challenge.ScopePolicy{Window: 15 * time.Minute, Max: 100},
		AccountIP: challenge.ScopePolicy{Window: time.Hour, Max: 1},
	}
	l := newMemoryLimiter(t, newLimitClock(), p)
	limiterFail(t, l, "b:c", "a")
	wantAllowed(t, `Check("c", "a:b")`, limiterCheck(t, l, "c", "a:b"))
}

func TestLimiterPartialIdentity(t *testing.T) {
	p := challenge.LimitPolicy{
		Account:   challenge.ScopePolicy{Window: 15 * time.Minute, Max: 3},
		IP:        challenge.ScopePolicy{Window: 15 * time.Minute, Max: 2},
		AccountIP: challenge.ScopePolicy{Window: time.Hour, Max: 1},
	}

	t.Run("unknown address counts on the account", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), p)
		for range 3 {
			limiterFail(t, l, "alice", "")
		}
		wantRefused(t, "Check from an unknown address", limiterCheck(t, l, "alice", ""), 15*time.Minute)
		wantRefused(t, "Check from a known address", limiterCheck(t, l, "alice", "192.0.2.1"), 15*time.Minute)
	})

	t.Run("no account counts on the address", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), p)
		limiterFail(t, l, "", "192.0.2.1")
		limiterFail(t, l, "", "192.0.2.1")
		wantRefused(t, "Check with no account", limiterCheck(t, l, "", "192.0.2.1"), 15*time.Minute)
		wantRefused(t, "Check for an account", limiterCheck(t, l, "alice", "192.0.2.1"), 15*time.Minute)
		wantAllowed(t, "Check from elsewhere", limiterCheck(t, l, "alice", "192.0.2.2"))
	})

	t.Run("neither", func(t *testing.T) {
		l := newMemoryLimiter(t, newLimitClock(), p)
		ctx := context.Background()
		if d, err := l.Check(ctx, "", ""); err == nil || d.Allowed {
			t.Errorf("Check with neither = %+v, %v; want an error", d, err)
		}
		if d, err := l.Failure(ctx, "", ""); err == nil || d.Allowed {
			t.Errorf("Failure with neither = %+v, %v; want an error", d, err)
		}
		if err := l.Success(ctx, "", ""); err == nil {
			t.Error("Success with neither: no error")
		}
	})
}

// faultyLimitStore fails every call of one method and, with staleGet,
// reads every key as absent.
type faultyLimitStore struct {
	challenge.LimitStore
	fail     string
	staleGet bool
}

var errLimitStoreDown = errors.New("limit store down")

func (s faultyLimitStore) Hit(ctx context.Context, key string, limit int64, w time.Duration) (challenge.LimitEntry, bool, error) {
	if s.fail == "Hit" {
		return challenge.LimitEntry{}, false, errLimitStoreDown
	}
	return s.LimitStore.Hit(ctx, key, limit, w)
}

func (s faultyLimitStore) Unhit(ctx context.Context, key string) error {
	if s.fail == "Unhit" {
		return errLimitStoreDown
	}
	return s.LimitStore.Unhit(ctx, key)
}

func (s faultyLimitStore) Get(ctx context.Context, keys ...string) ([]challenge.LimitEntry, error) {
	if s.fail == "Get" {
		return nil, errLimitStoreDown
	}
	if s.staleGet {
		return make([]challenge.LimitEntry, len(keys)), nil
	}
	return s.LimitStore.Get(ctx, keys...)
}

func (s faultyLimitStore) Lock(ctx context.Context, key string, d time.Duration) error {
	if s.fail == "Lock" {
		return errLimitStoreDown
	}
	return s.LimitStore.Lock(ctx, key, d)
}

func (s faultyLimitStore) Reset(ctx context.Context, keys ...string) error {
	if s.fail == "Reset" {
		return errLimitStoreDown
	}
	return s.LimitStore.Reset(ctx, keys...)
}

// Whichever store call fails, the Limiter reports the error and never an
// allowed decision.
func TestLimiterFailsClosed(t *testing.T) {
	p := challenge.DefaultLimitPolicy()
	p.AccountIP.Free = 0 // so that the first Failure locks
	for _, method := range []string{"Hit", "Get", "Lock", "Reset", "Unhit"} {
		t.Run(method, func(t *testing.T) {
			l := newTestLimiter(t, faultyLimitStore{LimitStore: challenge.NewLimitMemoryStore(), fail: method}, p)
			ctx := context.Background()
			var failed bool
			if d, err := l.Check(ctx, "alice", "192.0.2.1"); err != nil {
				failed = true
				if d.Allowed || !errors.Is(err, errLimitStoreDown) {
					t.Errorf("Check = %+v, %v; want refused and the store's error", d, err)
				}
			}
			if d, err := l.Failure(ctx, "alice", "192.0.2.1"); err != nil {
				failed = true
				if d.Allowed || !errors.Is(err, errLimitStoreDown) {
					t.Errorf("Failure = %+v, %v; want refused and the store's error", d, err)
				}
			}
			if err := l.Success(ctx, "alice", "192.0.2.1"); err != nil {
				failed = true
				if !errors.Is(err, errLimitStoreDown) {
					t.Errorf("Success error = %v, want the store's", err)
				}
			}
			if !failed {
				t.Fatalf("no call reported the failing %s", method)
			}
		})
	}
}
