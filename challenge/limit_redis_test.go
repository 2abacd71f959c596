package challenge_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/testenv"
)

// closedLimitRedisStore is a LimitRedisStore whose Redis cannot answer.
func closedLimitRedisStore(t *testing.T) *challenge.LimitRedisStore {
	t.Helper()
	opt, err := rueidis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	return challenge.NewLimitRedisStore(client, testenv.Prefix(t))
}

// A Redis that cannot answer must never look like an empty counter or an
// open lock.
func TestLimitRedisStoreErrors(t *testing.T) {
	s := closedLimitRedisStore(t)
	ctx := context.Background()
	if _, ok, err := s.Hit(ctx, "k", math.MaxInt64, time.Minute); err == nil || ok {
		t.Errorf("Hit on a closed client = %v, %v; want false and an error", ok, err)
	}
	if err := s.Unhit(ctx, "k"); err == nil {
		t.Error("Unhit on a closed client: no error")
	}
	if es, err := s.Get(ctx, "k", "l"); err == nil || es != nil {
		t.Errorf("Get on a closed client = %v, %v; want no entries and an error", es, err)
	}
	if err := s.Lock(ctx, "k", time.Minute); err == nil {
		t.Error("Lock on a closed client: no error")
	}
	if err := s.Reset(ctx, "k"); err == nil {
		t.Error("Reset on a closed client: no error")
	}
}

// With Redis down, credential checks and sends fail closed: an error (503
// for the caller), never an allowed decision.
func TestLimitersFailClosedOnRedis(t *testing.T) {
	s := closedLimitRedisStore(t)
	ctx := context.Background()
	l := newTestLimiter(t, s, challenge.DefaultLimitPolicy())
	if d, err := l.Check(ctx, "alice", "192.0.2.1"); err == nil || d.Allowed {
		t.Errorf("Check = %+v, %v; want refused and an error", d, err)
	}
	if d, err := l.Failure(ctx, "alice", "192.0.2.1"); err == nil || d.Allowed {
		t.Errorf("Failure = %+v, %v; want refused and an error", d, err)
	}
	if err := l.Success(ctx, "alice", "192.0.2.1"); err == nil {
		t.Error("Success: no error")
	}
	sl := newSendLimiter(t, s, challenge.DefaultSendPolicy())
	if d, err := sl.Allow(ctx, "alice@example.com", "192.0.2.1"); err == nil || d.Allowed {
		t.Errorf("Allow = %+v, %v; want refused and an error", d, err)
	}
}

// The Limiter on Redis, as several authd instances share it; waits come
// from Redis's clock, so they are compared to the millisecond.
func TestLimiterOnRedis(t *testing.T) {
	const attacker, owner = "198.51.100.7", "2001:db8::9"
	near := func(t *testing.T, what string, d challenge.Decision, want time.Duration) {
		t.Helper()
		if d.Allowed || d.RetryAfter > want || d.RetryAfter < want-5*time.Second {
			t.Fatalf("%s = %+v, want refused for about %v", what, d, want)
		}
	}

	t.Run("paces one address", func(t *testing.T) {
		l := newTestLimiter(t, newLimitRedisStore(t), challenge.DefaultLimitPolicy())
		for range 4 {
			if _, d := limiterFail(t, l, "alice", attacker); !d.Allowed {
				t.Fatalf("free failure refused: %+v", d)
			}
		}
		_, d := limiterFail(t, l, "alice", attacker)
		near(t, "5th failure", d, time.Minute)
		near(t, "Check after the 5th failure", limiterCheck(t, l, "alice", attacker), time.Minute)
		wantAllowed(t, "the owner's Check", limiterCheck(t, l, "alice", owner))
	})

	t.Run("burst from one address", func(t *testing.T) {
		l := newTestLimiter(t, newLimitRedisStore(t), challenge.DefaultLimitPolicy())
		if got := limiterBurst(t, l, "alice", attacker, 50); got != 9 {
			t.Fatalf("%d of 50 parallel guesses were checked, want 9", got)
		}
		near(t, "Check after the burst", limiterCheck(t, l, "alice", attacker), time.Hour)
		limiterSucceed(t, l, "alice", owner)
	})

	t.Run("success", func(t *testing.T) {
		p := challenge.LimitPolicy{
			Account:   challenge.ScopePolicy{Window: 15 * time.Minute, Max: 5},
			IP:        challenge.ScopePolicy{Window: 15 * time.Minute, Max: 3},
			AccountIP: challenge.ScopePolicy{Window: time.Hour, Max: 2},
		}
		l := newTestLimiter(t, newLimitRedisStore(t), p)
		limiterFail(t, l, "alice", attacker)
		limiterSucceed(t, l, "alice", attacker) // clears the pair, takes back one from the address
		if admitted, d := limiterFail(t, l, "alice", attacker); !admitted {
			t.Fatalf("failure after a success refused with %+v", d)
		}
		limiterFail(t, l, "bob", attacker) // the address's third failure
		near(t, "Check from the full address", limiterCheck(t, l, "carol", attacker), 15*time.Minute)
	})
}

func TestSendLimiterConcurrencyOnRedis(t *testing.T) {
	testSendLimiterConcurrency(t, newLimitRedisStore)
}
