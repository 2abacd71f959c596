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

func newSendLimiter(t *testing.T, store challenge.LimitStore, p challenge.SendPolicy) *challenge.SendLimiter {
	t.Helper()
	l, err := challenge.NewSendLimiter(store, p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newMemorySendLimiter(t *testing.T, clk *testclock.Clock, p challenge.SendPolicy) *challenge.SendLimiter {
	t.Helper()
	return newSendLimiter(t, challenge.NewLimitMemoryStore(challenge.LimitMemoryClock(clk.Now)), p)
}

func sendAllow(t *testing.T, l *challenge.SendLimiter, destination, ip string) challenge.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), destination, ip)
	if err != nil {
		t.Fatalf("Allow(%q, %q): %v", destination, ip, err)
	}
	return d
}

func TestNewSendLimiterValidates(t *testing.T) {
	if _, err := challenge.NewSendLimiter(nil, challenge.DefaultSendPolicy()); err == nil {
		t.Error("nil store: no error")
	}
	for _, tt := range []struct {
		name string
		edit func(p *challenge.SendPolicy)
		want string
	}{
		{"cooldown under a minute", func(p *challenge.SendPolicy) { p.Cooldown = 30 * time.Second }, "cooldown"},
		{"no sends per destination", func(p *challenge.SendPolicy) { p.PerDestination = 0 }, "per destination"},
		{"no destination window", func(p *challenge.SendPolicy) { p.DestinationWindow = 0 }, "per destination"},
		{"no sends per ip", func(p *challenge.SendPolicy) { p.PerIP = 0 }, "per ip"},
		{"no ip window", func(p *challenge.SendPolicy) { p.IPWindow = -time.Hour }, "per ip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := challenge.DefaultSendPolicy()
			tt.edit(&p)
			_, err := challenge.NewSendLimiter(challenge.NewLimitMemoryStore(), p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSendLimiter error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSendLimiterCooldown(t *testing.T) {
	clk := newLimitClock()
	l := newMemorySendLimiter(t, clk, challenge.DefaultSendPolicy())
	wantAllowed(t, "first send", sendAllow(t, l, "alice@example.com", "192.0.2.1"))
	for _, tt := range []struct {
		after time.Duration
		want  time.Duration // 0: allowed
	}{
		{0, time.Minute},
		{30 * time.Second, 30 * time.Second},
		{29 * time.Second, time.Second},
		{time.Second, 0},
	} {
		clk.Advance(tt.after)
		// From another address too: the cooldown is the destination's.
		d := sendAllow(t, l, "alice@example.com", "192.0.2.2")
		what := fmt.Sprintf("resend %v later", tt.after)
		if tt.want == 0 {
			wantAllowed(t, what, d)
		} else {
			wantRefused(t, what, d, tt.want)
		}
	}
	wantAllowed(t, "another destination", sendAllow(t, l, "bob@example.com", "192.0.2.1"))
}

func TestSendLimiterDestinationCap(t *testing.T) {
	clk := newLimitClock()
	l := newMemorySendLimiter(t, clk, challenge.DefaultSendPolicy())
	for i := range 5 {
		wantAllowed(t, fmt.Sprintf("send %d", i+1), sendAllow(t, l, "+15550100", fmt.Sprintf("192.0.2.%d", i)))
		clk.Advance(time.Minute)
	}
	// Five sends from 0 to 4 minutes: the hour that began at 0 has 55
	// minutes left, and that is the wait even though the cooldown is over.
	wantRefused(t, "6th send at 5 minutes", sendAllow(t, l, "+15550100", "192.0.2.9"), 55*time.Minute)
	clk.Advance(55*time.Minute - time.Second)
	wantRefused(t, "6th send a second before the hour", sendAllow(t, l, "+15550100", "192.0.2.9"), time.Second)
	clk.Advance(time.Second)
	wantAllowed(t, "6th send once the hour is over", sendAllow(t, l, "+15550100", "192.0.2.9"))
}

// When several limits refuse, the wait is the longest, so a client that
// honours Retry-After is not refused again.
func TestSendLimiterLongestWait(t *testing.T) {
	p := challenge.DefaultSendPolicy()
	p.PerDestination = 1
	l := newMemorySendLimiter(t, newLimitClock(), p)
	sendAllow(t, l, "carol@example.com", "192.0.2.1")
	wantRefused(t, "resend", sendAllow(t, l, "carol@example.com", "192.0.2.1"), time.Hour)
}

func TestSendLimiterIPCap(t *testing.T) {
	clk := newLimitClock()
	l := newMemorySendLimiter(t, clk, challenge.DefaultSendPolicy())
	for i := range 30 {
		wantAllowed(t, fmt.Sprintf("send %d", i+1), sendAllow(t, l, fmt.Sprintf("+1555010%02d", i), "2001:db8::1"))
		clk.Advance(10 * time.Second)
	}
	// Another address of the same /64 is the same client.
	wantRefused(t, "31st send", sendAllow(t, l, "+15550199", "2001:db8::2"), time.Hour-300*time.Second)
	wantAllowed(t, "the same destination from another client", sendAllow(t, l, "+15550199", "2001:db8:0:1::1"))
}

// A refused send takes nothing: not the address's hourly count, not the
// destination's cooldown or cap.
func TestSendLimiterRefusalConsumesNothing(t *testing.T) {
	p := challenge.DefaultSendPolicy()
	p.PerIP = 2
	l := newMemorySendLimiter(t, newLimitClock(), p)
	wantAllowed(t, "send to dave", sendAllow(t, l, "dave@example.com", "192.0.2.1"))
	for range 10 {
		wantRefused(t, "resend to dave", sendAllow(t, l, "dave@example.com", "192.0.2.1"), time.Minute)
	}
	wantAllowed(t, "send to erin: the refused resends did not count", sendAllow(t, l, "erin@example.com", "192.0.2.1"))
	wantRefused(t, "send to frank: the address's hour is full", sendAllow(t, l, "frank@example.com", "192.0.2.1"), time.Hour)
	wantAllowed(t, "send to frank from elsewhere: the refusal took no cooldown", sendAllow(t, l, "frank@example.com", "192.0.2.2"))
}

func TestSendLimiterArguments(t *testing.T) {
	p := challenge.DefaultSendPolicy()
	p.PerIP = 1
	l := newMemorySendLimiter(t, newLimitClock(), p)
	if d, err := l.Allow(context.Background(), "", "192.0.2.1"); err == nil || d.Allowed {
		t.Errorf("Allow with no destination = %+v, %v; want an error", d, err)
	}
	// An unknown address leaves only the destination's limits.
	wantAllowed(t, "send with no address", sendAllow(t, l, "grace@example.com", ""))
	wantAllowed(t, "send with no address", sendAllow(t, l, "heidi@example.com", ""))
	wantRefused(t, "resend with no address", sendAllow(t, l, "grace@example.com", ""), time.Minute)
}

// testSendLimiterConcurrency runs against any store: a burst must not get
// more sends through than the limits allow.
func testSendLimiterConcurrency(t *testing.T, newStore func(t *testing.T) challenge.LimitStore) {
	const n = 50
	run := func(t *testing.T, l *challenge.SendLimiter, dest func(i int) string) int {
		t.Helper()
		var (
			wg      sync.WaitGroup
			allowed atomic.Int32
			start   = make(chan struct{})
			errs    = make(chan error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				d, err := l.Allow(context.Background(), dest(i), "192.0.2.1")
				if err != nil {
					errs <- err
				}
				if d.Allowed {
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return int(allowed.Load())
	}

	t.Run("one destination", func(t *testing.T) {
		l := newSendLimiter(t, newStore(t), challenge.DefaultSendPolicy())
		if got := run(t, l, func(int) string { return "ivan@example.com" }); got != 1 {
			t.Fatalf("%d of %d concurrent sends to one destination allowed, want 1", got, n)
		}
		// The losers gave back what they took from the address.
		wantAllowed(t, "send to another destination", sendAllow(t, l, "judy@example.com", "192.0.2.1"))
	})

	t.Run("one address", func(t *testing.T) {
		p := challenge.DefaultSendPolicy()
		p.PerIP = 10
		l := newSendLimiter(t, newStore(t), p)
		if got := run(t, l, func(i int) string { return fmt.Sprintf("+1555020%02d", i) }); got != 10 {
			t.Fatalf("%d of %d concurrent sends from one address allowed, want 10", got, n)
		}
		// The losers took no cooldown from their destinations: only the
		// ten that were sent to refuse a send from elsewhere.
		refused := 0
		for i := range n {
			if d := sendAllow(t, l, fmt.Sprintf("+1555020%02d", i), fmt.Sprintf("198.51.100.%d", i)); !d.Allowed {
				refused++
			}
		}
		if refused != 10 {
			t.Fatalf("%d destinations in cooldown after the burst, want 10", refused)
		}
	})
}

func TestSendLimiterConcurrency(t *testing.T) {
	testSendLimiterConcurrency(t, func(*testing.T) challenge.LimitStore { return challenge.NewLimitMemoryStore() })
}

func TestSendLimiterFailsClosed(t *testing.T) {
	for _, method := range []string{"Get", "Hit"} {
		t.Run(method, func(t *testing.T) {
			l := newSendLimiter(t, faultyLimitStore{LimitStore: challenge.NewLimitMemoryStore(), fail: method}, challenge.DefaultSendPolicy())
			if d, err := l.Allow(context.Background(), "kim@example.com", "192.0.2.1"); d.Allowed || !errors.Is(err, errLimitStoreDown) {
				t.Fatalf("Allow = %+v, %v; want refused and the store's error", d, err)
			}
		})
	}

	// Unhit runs only when a limit that read as open refuses at its Hit:
	// a stale read makes that happen on the second send.
	t.Run("Unhit", func(t *testing.T) {
		l := newSendLimiter(t, faultyLimitStore{LimitStore: challenge.NewLimitMemoryStore(), fail: "Unhit", staleGet: true}, challenge.DefaultSendPolicy())
		wantAllowed(t, "first send", sendAllow(t, l, "kim@example.com", "192.0.2.1"))
		if d, err := l.Allow(context.Background(), "kim@example.com", "192.0.2.1"); d.Allowed || !errors.Is(err, errLimitStoreDown) {
			t.Fatalf("Allow = %+v, %v; want refused and the store's error", d, err)
		}
	})
}
