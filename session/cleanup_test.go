package session_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/session"
)

// TestDeleteExpired ends sessions every way a session ends, some longer
// ago than the retention and some not, and checks which ones a clean-up
// pass deletes.
func TestDeleteExpired(t *testing.T) {
	const (
		idle      = 2 * time.Hour
		retention = 24 * time.Hour
	)
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			spy := &spyStore{Store: sc.new(t)}
			clk := testclock.New(start)
			m := newManager(t, spy, secretA, session.WithClock(clk.Now), session.WithIdleTimeout(idle))
			begin := func() session.Session {
				t.Helper()
				s, _, err := m.Start(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			revoke := func(s session.Session) {
				t.Helper()
				if err := m.RevokeSession(ctx, s.ID, "revoked"); err != nil {
					t.Fatal(err)
				}
			}

			// The pass runs at start+3d+1h: its cutoff is start+2d+1h.
			p := params
			p.TTL = time.Hour
			expired, _, err := m.Start(ctx, p) // ends at start+1h
			if err != nil {
				t.Fatal(err)
			}
			revoked := begin()
			oldIdle := begin() // ends at start+2h
			clk.Advance(time.Hour)
			revoke(revoked) // at start+1h
			clk.Advance(2*24*time.Hour + 11*time.Hour)
			recentIdle := begin() // ends at start+2d+14h
			recentlyRevoked := begin()
			revoke(recentlyRevoked) // at start+2d+12h
			clk.Advance(13 * time.Hour)
			live := begin()

			spy.takeCalls()
			n, err := m.DeleteExpired(ctx, retention)
			if err != nil || n != 3 {
				t.Errorf("DeleteExpired = %d, %v; want 3, nil", n, err)
			}
			if calls := spy.takeCalls(); len(calls) != 1 {
				t.Errorf("store calls %v, want one DeleteExpired: 3 sessions are one batch", calls)
			}
			for name, s := range map[string]session.Session{"expired": expired, "revoked": revoked, "idle": oldIdle} {
				if _, err := m.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("%s session ended before the retention: Get err = %v, want ErrNotFound", name, err)
				}
			}
			for name, s := range map[string]session.Session{"idle": recentIdle, "revoked": recentlyRevoked, "live": live} {
				if _, err := m.Get(ctx, s.ID); err != nil {
					t.Errorf("%s session within the retention: Get: %v", name, err)
				}
			}
			if n, err := m.DeleteExpired(ctx, retention); err != nil || n != 0 {
				t.Errorf("second DeleteExpired = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// startEnded starts n sessions on m, which end when its lifetime has
// passed.
func startEnded(t *testing.T, m *session.Manager, n int) {
	t.Helper()
	for range n {
		if _, _, err := m.Start(t.Context(), params); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeleteExpiredInBatches(t *testing.T) {
	ctx := t.Context()
	spy := &spyStore{Store: session.NewMemoryStore()}
	clk := testclock.New(start)
	m := newManager(t, spy, secretA, session.WithClock(clk.Now), session.WithLifetime(time.Hour))
	startEnded(t, m, 2500)
	clk.Advance(2 * time.Hour)
	spy.takeCalls()
	if n, err := m.DeleteExpired(ctx, 0); err != nil || n != 2500 {
		t.Errorf("DeleteExpired = %d, %v; want 2500, nil", n, err)
	}
	if calls := spy.takeCalls(); len(calls) != 3 {
		t.Errorf("%d store calls, want 3 batches (1000, 1000, 500)", len(calls))
	}
}

func TestDeleteExpiredValidates(t *testing.T) {
	m := newManager(t, session.NewMemoryStore(), secretA)
	if _, err := m.DeleteExpired(t.Context(), -time.Second); err == nil {
		t.Error("DeleteExpired with a negative retention: no error")
	}
	if err := m.RunCleanup(t.Context(), 0, time.Hour); err == nil {
		t.Error("RunCleanup with a zero interval: no error")
	}
	if err := m.RunCleanup(t.Context(), time.Hour, -time.Second); err == nil {
		t.Error("RunCleanup with a negative retention: no error")
	}
}

// busyStore is a store whose clean-up another instance is always running.
type busyStore struct{ session.Store }

func (busyStore) DeleteExpired(context.Context, time.Time, time.Duration, int) (int, error) {
	return 0, session.ErrBusy
}

func TestDeleteExpiredLeavesBusyStoreToTheOtherInstance(t *testing.T) {
	m := newManager(t, busyStore{session.NewMemoryStore()}, secretA)
	if n, err := m.DeleteExpired(t.Context(), 0); err != nil || n != 0 {
		t.Errorf("DeleteExpired = %d, %v; want 0, nil", n, err)
	}
}

// Instances that share a database all run the clean-up: they never fail
// for it, and between them delete every ended session exactly once.
func TestDeleteExpiredRacingInstances(t *testing.T) {
	ctx := t.Context()
	url := testenv.PostgresURL(t)
	const instances, ended = 3, 2100
	clk := testclock.New(start)
	ms := make([]*session.Manager, instances)
	for i := range ms {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		ms[i] = newManager(t, session.NewPostgresStore(pool), secretA, session.WithClock(clk.Now), session.WithLifetime(time.Hour))
	}
	startEnded(t, ms[0], ended)
	clk.Advance(2 * time.Hour)
	live, _, err := ms[0].Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}

	var (
		wg    sync.WaitGroup
		begin = make(chan struct{})
		n     [instances]int
		errs  [instances]error
	)
	for i, m := range ms {
		wg.Go(func() {
			<-begin
			n[i], errs[i] = m.DeleteExpired(ctx, 0)
		})
	}
	close(begin)
	wg.Wait()
	total := 0
	for i := range ms {
		if errs[i] != nil {
			t.Errorf("instance %d: %v", i, errs[i])
		}
		total += n[i]
	}
	if total != ended {
		t.Errorf("instances deleted %v sessions, %d in all; want %d", n, total, ended)
	}
	if _, err := ms[0].Get(ctx, live.ID); err != nil {
		t.Errorf("live session: %v", err)
	}
	if n, err := ms[0].DeleteExpired(ctx, 0); err != nil || n != 0 {
		t.Errorf("DeleteExpired after the race = %d, %v; want 0, nil", n, err)
	}
}

func TestRunCleanup(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clk := testclock.New(start)
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithClock(clk.Now), session.WithLifetime(time.Hour),
		session.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	gone := func(s session.Session) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, err := m.Get(ctx, s.ID); errors.Is(err, session.ErrNotFound) {
				return
			}
		}
		t.Fatal("session not deleted within 10s")
	}
	first, _, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)

	done := make(chan error)
	go func() { done <- m.RunCleanup(ctx, time.Millisecond, 0) }()
	gone(first) // the pass at once
	second, _, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	gone(second) // a pass on a later tick

	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunCleanup returned %v after ctx was done, want nil", err)
	}
}
