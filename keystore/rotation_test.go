package keystore_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/keystore"
)

// poolKeys hands out the test keys store does not hold, so rotation can go
// on for ever with three RSA keys: a key comes back once its earlier use
// has been deleted. Managers racing may get the same key; only one stores
// it.
func poolKeys(t *testing.T, store keystore.Store) keystore.Option {
	keys := testKeys(t)
	return keystore.WithGenerator(func(int) (*rsa.PrivateKey, error) {
		stored, err := store.ListKeys(context.Background())
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			kid, err := keystore.Thumbprint(&k.PublicKey)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(stored, func(s keystore.StoredKey) bool { return s.ID == kid }) {
				return k, nil
			}
		}
		return nil, errors.New("every test key is stored")
	})
}

// rotatingManager is a Manager on testSchedule whose clock is now.
func rotatingManager(t *testing.T, store keystore.Store, kek keystore.KEK, now func() time.Time) *keystore.Manager {
	t.Helper()
	opts := append(withSchedule(testSchedule), keystore.WithClock(now), poolKeys(t, store))
	return newManager(t, store, kek, 0, opts...)
}

func listKeys(t *testing.T, s keystore.Store) []keystore.StoredKey {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	return keys
}

// keyTimes is a stored key by its timestamps; zero means NULL.
type keyTimes struct{ activates, retires, expires time.Time }

func (k keyTimes) String() string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Sub(t0).String()
	}
	return fmt.Sprintf("{t0+%s %s %s}", f(k.activates), f(k.retires), f(k.expires))
}

// TestRotationLifecycle walks keys through next, active, retired, expired
// and deleted with Maintain and the clock alone, checking every boundary to
// the microsecond the stores keep.
func TestRotationLifecycle(t *testing.T) {
	const (
		period = time.Hour
		delay  = 12 * time.Minute // ActivationDelay
		keep   = 16 * time.Minute // RetiredFor
		µs     = time.Microsecond
	)
	a0 := t0
	a1 := a0.Add(period + delay)
	a2 := a1.Add(period + delay)
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.new(t)
			clk := testclock.New(t0)
			m := rotatingManager(t, store, testKEK, clk.Now)
			if err := m.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, tc := range []struct {
				name    string
				at      time.Time
				stored  []keyTimes       // after Maintain, oldest first
				signing int              // index into stored; -1 none
				states  []keystore.State // of the published keys, oldest first
			}{
				{"first key active at once", a0, []keyTimes{{a0, time.Time{}, time.Time{}}}, 0, []keystore.State{keystore.StateActive}},
				{"rotation not due", a0.Add(period - µs), []keyTimes{{a0, time.Time{}, time.Time{}}}, 0, []keystore.State{keystore.StateActive}},
				{"rotation due: next published", a0.Add(period),
					[]keyTimes{{a0, a1, a1.Add(keep)}, {a1, time.Time{}, time.Time{}}}, 0,
					[]keystore.State{keystore.StateActive, keystore.StateNext}},
				{"not due again while a key is next", a1.Add(-µs),
					[]keyTimes{{a0, a1, a1.Add(keep)}, {a1, time.Time{}, time.Time{}}}, 0,
					[]keystore.State{keystore.StateActive, keystore.StateNext}},
				{"next activates, first retires", a1,
					[]keyTimes{{a0, a1, a1.Add(keep)}, {a1, time.Time{}, time.Time{}}}, 1,
					[]keystore.State{keystore.StateRetired, keystore.StateActive}},
				{"retired key published until it expires", a1.Add(keep - µs),
					[]keyTimes{{a0, a1, a1.Add(keep)}, {a1, time.Time{}, time.Time{}}}, 1,
					[]keystore.State{keystore.StateRetired, keystore.StateActive}},
				{"expired key deleted", a1.Add(keep), []keyTimes{{a1, time.Time{}, time.Time{}}}, 0, []keystore.State{keystore.StateActive}},
				{"second rotation not due", a1.Add(period - µs), []keyTimes{{a1, time.Time{}, time.Time{}}}, 0, []keystore.State{keystore.StateActive}},
				{"second rotation due", a1.Add(period),
					[]keyTimes{{a1, a2, a2.Add(keep)}, {a2, time.Time{}, time.Time{}}}, 0,
					[]keystore.State{keystore.StateActive, keystore.StateNext}},
			} {
				clk.Set(tc.at)
				if err := m.Maintain(t.Context()); err != nil {
					t.Fatalf("%s: Maintain: %v", tc.name, err)
				}
				stored := listKeys(t, store)
				var got []keyTimes
				for _, k := range stored {
					got = append(got, keyTimes{k.ActivatesAt, k.RetiresAt, k.ExpiresAt})
				}
				if !slices.EqualFunc(got, tc.stored, func(a, b keyTimes) bool {
					return a.activates.Equal(b.activates) && a.retires.Equal(b.retires) && a.expires.Equal(b.expires)
				}) {
					t.Fatalf("%s: store holds %v, want %v", tc.name, got, tc.stored)
				}
				if n := len(stored); n > 1 && !stored[n-1].CreatedAt.Equal(stored[n-1].ActivatesAt.Add(-delay)) {
					t.Errorf("%s: newest key created at %v, want its activation less the delay", tc.name, stored[n-1].CreatedAt)
				}
				k, err := m.Signing()
				if err != nil || k.ID != stored[tc.signing].ID {
					t.Fatalf("%s: Signing = %v, %v; want stored key %d", tc.name, k, err, tc.signing)
				}
				var states []keystore.State
				for i, p := range m.Published() {
					states = append(states, p.StateAt(tc.at))
					if p.ID != stored[i].ID {
						t.Errorf("%s: published key %d is %s, want %s", tc.name, i, p.ID, stored[i].ID)
					}
				}
				if !slices.Equal(states, tc.states) {
					t.Fatalf("%s: published states %v, want %v", tc.name, states, tc.states)
				}
			}
		})
	}
}

func TestRotateOnDemand(t *testing.T) {
	const delay = 12 * time.Minute
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.new(t)
			clk := testclock.New(t0)
			m := rotatingManager(t, store, testKEK, clk.Now)
			if err := m.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			first, err := m.Signing()
			if err != nil {
				t.Fatal(err)
			}

			// Not due: Rotate rotates anyway.
			clk.Set(t0.Add(5 * time.Minute))
			next, created, err := m.Rotate(t.Context())
			if err != nil || !created {
				t.Fatalf("Rotate = %v, %v; want a new key", created, err)
			}
			act := t0.Add(5*time.Minute + delay)
			if next.Private != nil || next.ID == first.ID || !next.ActivatesAt.Equal(act) || next.StateAt(clk.Now()) != keystore.StateNext {
				t.Fatalf("Rotate returned %s activating %v (private %v), want a new public key activating %v", next.ID, next.ActivatesAt, next.Private != nil, act)
			}
			if _, ok := m.PublicKey(next.ID); !ok {
				t.Fatal("the next key is not published at once")
			}
			if k, _ := m.Signing(); k.ID != first.ID || !k.RetiresAt.Equal(act) {
				t.Fatalf("signing key %s retires at %v, want %s retiring at %v", k.ID, k.RetiresAt, first.ID, act)
			}
			before := listKeys(t, store)

			// A key is next: Rotate returns it and writes nothing.
			clk.Set(act.Add(-time.Microsecond))
			again, created, err := m.Rotate(t.Context())
			if err != nil || created || again.ID != next.ID || !again.ActivatesAt.Equal(act) {
				t.Fatalf("Rotate with a key next = %s at %v, created %v, %v; want %s at %v unchanged", again.ID, again.ActivatesAt, created, err, next.ID, act)
			}
			if after := listKeys(t, store); !slices.EqualFunc(before, after, sameStored) {
				t.Fatal("Rotate with a key already next changed the store")
			}
			// Nor does Maintain add one.
			clk.Set(t0.Add(2 * time.Hour))
			clk.Set(act.Add(-time.Microsecond))
			if err := m.Maintain(t.Context()); err != nil {
				t.Fatal(err)
			}

			// Once it signs, Rotate starts the next rotation.
			clk.Set(act)
			third, created, err := m.Rotate(t.Context())
			if err != nil || !created || third.ID == next.ID || third.ID == first.ID || !third.ActivatesAt.Equal(act.Add(delay)) {
				t.Fatalf("Rotate after activation = %s at %v, created %v, %v", third.ID, third.ActivatesAt, created, err)
			}
			var retires []time.Time
			for _, k := range listKeys(t, store) {
				retires = append(retires, k.RetiresAt)
			}
			if want := []time.Time{act, act.Add(delay), {}}; !slices.EqualFunc(retires, want, time.Time.Equal) {
				t.Fatalf("stored retirements %v, want %v", retires, want)
			}
		})
	}
}

func sameStored(a, b keystore.StoredKey) bool {
	return a.ID == b.ID && bytes.Equal(a.PrivateSealed, b.PrivateSealed) && bytes.Equal(a.PublicKey, b.PublicKey) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ActivatesAt.Equal(b.ActivatesAt) &&
		a.RetiresAt.Equal(b.RetiresAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// postgresInstances returns n Managers on one fresh database, each with
// its own pool as separate authd processes would have, and a store to
// inspect it with.
func postgresInstances(t *testing.T, n int, clock func(i int) func() time.Time) ([]*keystore.Manager, keystore.Store) {
	t.Helper()
	dbURL := testenv.PostgresURL(t)
	pool := func() *pgxpool.Pool {
		p, err := pgxpool.New(context.Background(), dbURL)
		if err != nil {
			t.Fatalf("open pool: %v", err)
		}
		t.Cleanup(p.Close)
		return p
	}
	managers := make([]*keystore.Manager, n)
	for i := range managers {
		managers[i] = rotatingManager(t, keystore.NewPostgresStore(pool()), testKEK, clock(i))
	}
	return managers, keystore.NewPostgresStore(pool())
}

// all runs f for every manager at once and fails on any error.
func all(t *testing.T, managers []*keystore.Manager, what string, f func(*keystore.Manager) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(managers))
	for i, m := range managers {
		wg.Go(func() { errs[i] = f(m) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestMaintainRaceRotatesOncePerPeriod: three instances on one database run
// Maintain at the same moments, minute by minute, through three rotation
// periods; exactly three rotations happen, each when it falls due.
func TestMaintainRaceRotatesOncePerPeriod(t *testing.T) {
	clk := testclock.New(t0)
	managers, store := postgresInstances(t, 3, func(int) func() time.Time { return clk.Now })
	all(t, managers, "Load", func(m *keystore.Manager) error { return m.Load(t.Context()) })

	type created struct {
		kid string
		at  time.Time
	}
	seen := map[created]bool{}
	delay := testSchedule.ActivationDelay()
	rot1 := t0.Add(time.Hour)
	rot2 := rot1.Add(delay + time.Hour)
	rot3 := rot2.Add(delay + time.Hour)
	end := rot3.Add(delay + time.Hour - time.Minute) // the fourth is not due yet
	for now := t0; !now.After(end); now = now.Add(time.Minute) {
		clk.Set(now)
		all(t, managers, "Maintain at t0+"+now.Sub(t0).String(), func(m *keystore.Manager) error { return m.Maintain(t.Context()) })
		stored := listKeys(t, store)
		if len(stored) > 3 {
			t.Fatalf("at t0+%s the store holds %d keys", now.Sub(t0), len(stored))
		}
		for _, k := range stored {
			seen[created{k.ID, k.CreatedAt}] = true
		}
	}
	var times []time.Time
	for c := range seen {
		times = append(times, c.at)
	}
	slices.SortFunc(times, time.Time.Compare)
	if want := []time.Time{t0, rot1, rot2, rot3}; !slices.EqualFunc(times, want, time.Time.Equal) {
		t.Fatalf("keys created at %v, want the first at t0 and one rotation each at %v", times, want[1:])
	}
}

// TestCachedJWKSNeverMissesKid simulates gateways that refetch the JWKS
// only when their cached copy is max-age old, one per instance and per tick
// of the max-age, so some gateway fetches from every instance at every
// moment. Every tick every instance signs a token; through three
// rotations, every gateway must hold the kid of every token still valid.
//
// The instances are placed for the worst case, so that dropping any term
// of ActivationDelay or RetiredFor fails the test: the rotating instance
// (0) runs 15s behind, another (1) polled the store one tick before the
// rotation and so publishes the new key a poll interval late, and the
// third (2) runs 15s ahead, so it signs with the new key first and stops
// publishing the old one first. Skews stay within the leeway, the poll
// interval exceeds the leeway, and the timings are multiples of the poll
// interval so every rotation falls the same way.
func TestCachedJWKSNeverMissesKid(t *testing.T) {
	const tick = 10 * time.Second
	sched := keystore.Schedule{
		RotationPeriod: time.Hour,
		JWKSMaxAge:     10 * time.Minute,
		PollInterval:   90 * time.Second,
		TokenLifetime:  15 * time.Minute,
		Leeway:         30 * time.Second,
	}
	instances := []struct {
		skew  time.Duration
		phase int // polls at the ticks n with n % pollTicks == phase
	}{
		{-15 * time.Second, 0},
		{-15 * time.Second, 8},
		{15 * time.Second, 3},
	}
	pollTicks := int(sched.PollInterval / tick)
	maxAgeTicks := int(sched.JWKSMaxAge / tick)
	clk := testclock.New(t0)
	clock := func(i int) func() time.Time {
		return func() time.Time { return clk.Now().Add(instances[i].skew) }
	}
	managerOn := func(t *testing.T, store keystore.Store, i int) *keystore.Manager {
		opts := append(withSchedule(sched), keystore.WithClock(clock(i)), poolKeys(t, store))
		return newManager(t, store, testKEK, 0, opts...)
	}

	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			clk.Set(t0)
			var managers []*keystore.Manager
			if sc.name == "memory" {
				store := keystore.NewMemoryStore()
				for i := range instances {
					managers = append(managers, managerOn(t, store, i))
				}
			} else {
				// A pool each, as separate processes would have.
				dbURL := testenv.PostgresURL(t)
				for i := range instances {
					pool, err := pgxpool.New(t.Context(), dbURL)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(pool.Close)
					managers = append(managers, managerOn(t, keystore.NewPostgresStore(pool), i))
				}
			}
			for i, m := range managers {
				if err := m.Load(t.Context()); err != nil {
					t.Fatalf("Load %d: %v", i, err)
				}
			}

			type gateway struct {
				from, phase int
				fetched     int // tick; -1 before the first fetch
				kids        []string
			}
			var gateways []*gateway
			for i := range managers {
				for p := range maxAgeTicks {
					gateways = append(gateways, &gateway{from: i, phase: p, fetched: -1})
				}
			}
			parsed := map[string][]string{} // JWKS kids by ETag
			live := map[string]time.Time{}  // kid -> latest expiry of a token it signed
			signing := make([]string, len(managers))
			rotations := make([]int, len(managers))
			end := 3*(sched.RotationPeriod+sched.ActivationDelay()) + sched.ActivationDelay() + sched.RetiredFor() + sched.JWKSMaxAge
			for n := 0; time.Duration(n)*tick <= end; n++ {
				now := t0.Add(time.Duration(n) * tick)
				clk.Set(now)
				for i, m := range managers {
					if n%pollTicks == instances[i].phase {
						if err := m.Maintain(t.Context()); err != nil {
							t.Fatalf("t0+%s: Maintain %d: %v", now.Sub(t0), i, err)
						}
					}
				}
				for _, g := range gateways {
					if (g.fetched < 0 && n >= g.phase) || (g.fetched >= 0 && n-g.fetched >= maxAgeTicks) {
						jwks := managers[g.from].JWKS()
						kids, ok := parsed[jwks.ETag]
						if !ok {
							kids = jwksKids(t, jwks.Body)
							parsed[jwks.ETag] = kids
						}
						g.fetched, g.kids = n, kids
					}
				}
				for i, m := range managers {
					k, err := m.Signing()
					if err != nil {
						t.Fatalf("t0+%s: instance %d cannot sign: %v", now.Sub(t0), i, err)
					}
					// The token's exp is stamped by the instance's clock
					// and checked by the gateway's.
					if exp := now.Add(instances[i].skew + sched.TokenLifetime); exp.After(live[k.ID]) {
						live[k.ID] = exp
					}
					if signing[i] != "" && k.ID != signing[i] {
						rotations[i]++
					}
					signing[i] = k.ID
				}
				for kid, exp := range live {
					if !now.Before(exp) {
						delete(live, kid)
						continue
					}
					for _, g := range gateways {
						if g.fetched >= 0 && !slices.Contains(g.kids, kid) {
							t.Fatalf("t0+%s: gateway on instance %d (fetched at t0+%s) lacks kid %s of a token valid until t0+%s; it has %v",
								now.Sub(t0), g.from, time.Duration(g.fetched)*tick, kid, exp.Sub(t0), g.kids)
						}
					}
				}
			}
			if !slices.Equal(rotations, []int{3, 3, 3}) {
				t.Fatalf("instances changed signing key %v times, want 3 each", rotations)
			}
		})
	}
}

// syncBuffer is a log destination safe for Run's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// eventually polls cond in real time, for Run's real ticker.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRun(t *testing.T) {
	store := &fakeStore{}
	clk := testclock.New(t0)
	var logs syncBuffer
	sched := keystore.Schedule{
		RotationPeriod: time.Hour, JWKSMaxAge: time.Second, PollInterval: 10 * time.Millisecond,
		TokenLifetime: time.Second, Leeway: time.Second,
	}
	opts := append(withSchedule(sched), keystore.WithClock(clk.Now), poolKeys(t, store),
		keystore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	m := newManager(t, store, testKEK, 0, opts...)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	first, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	clk.Set(t0.Add(time.Hour))
	eventually(t, "Run to rotate", func() bool { return len(m.Published()) == 2 })
	published := m.Published()
	next := published[1]
	if want := t0.Add(time.Hour + sched.ActivationDelay()); !next.ActivatesAt.Equal(want) {
		t.Fatalf("next key activates at %v, want %v", next.ActivatesAt, want)
	}

	// The store goes away: Run logs, the instance keeps its keys and
	// still follows the clock through the rotation it knows of.
	store.set(nil, errors.New("connection refused"))
	eventually(t, "Run to log the failure", func() bool { return strings.Contains(logs.String(), "connection refused") })
	if k, err := m.Signing(); err != nil || k.ID != first.ID {
		t.Fatalf("with the store down Signing = %v, %v; want %s", k, err, first.ID)
	}
	clk.Set(next.ActivatesAt)
	if k, err := m.Signing(); err != nil || k.ID != next.ID {
		t.Fatalf("with the store down after activation Signing = %v, %v; want %s", k, err, next.ID)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestPostgresDownKeepsKeys: with the database gone, Refresh, Maintain and
// Rotate fail and the instance keeps signing and publishing what it had.
func TestPostgresDownKeepsKeys(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := keystore.NewPostgresStore(pool)
	clk := testclock.New(t0)
	m := rotatingManager(t, store, testKEK, clk.Now)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	clk.Set(t0.Add(time.Hour))
	if err := m.Maintain(t.Context()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	signing, err := m.Signing()
	if err != nil {
		t.Fatal(err)
	}
	jwks := m.JWKS()
	next := m.Published()[1]

	pool.Close()
	clk.Set(next.ActivatesAt.Add(-time.Second))
	for name, f := range map[string]func() error{
		"Refresh":  func() error { return m.Refresh(t.Context()) },
		"Maintain": func() error { return m.Maintain(t.Context()) },
		"Rotate":   func() error { _, _, err := m.Rotate(t.Context()); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s succeeded with the database closed", name)
		}
		if k, err := m.Signing(); err != nil || k.ID != signing.ID {
			t.Errorf("after %s failed Signing = %v, %v; want %s", name, k, err, signing.ID)
		}
		if got := m.JWKS(); got.ETag != jwks.ETag {
			t.Errorf("after %s failed the JWKS changed", name)
		}
	}
	clk.Set(next.ActivatesAt)
	if k, err := m.Signing(); err != nil || k.ID != next.ID {
		t.Fatalf("with the database closed, after activation Signing = %v, %v; want %s", k, err, next.ID)
	}
}

// TestRunInstancesRotateOnce: three instances on one database each Run,
// polling every 10ms; whenever the clock reaches a due time, exactly one
// rotation happens however many passes follow.
func TestRunInstancesRotateOnce(t *testing.T) {
	sched := keystore.Schedule{
		RotationPeriod: time.Hour, JWKSMaxAge: time.Second, PollInterval: 10 * time.Millisecond,
		TokenLifetime: time.Second, Leeway: time.Second,
	}
	dbURL := testenv.PostgresURL(t)
	clk := testclock.New(t0)
	var managers []*keystore.Manager
	for range 3 {
		pool, err := pgxpool.New(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		store := keystore.NewPostgresStore(pool)
		opts := append(withSchedule(sched), keystore.WithClock(clk.Now), poolKeys(t, store))
		managers = append(managers, newManager(t, store, testKEK, 0, opts...))
	}
	all(t, managers, "Load", func(m *keystore.Manager) error { return m.Load(t.Context()) })
	pool, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := keystore.NewPostgresStore(pool)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, m := range managers {
		wg.Go(func() {
			if err := m.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	for r := range 3 {
		keys := listKeys(t, store)
		newest := keys[len(keys)-1].ActivatesAt
		due := newest.Add(sched.RotationPeriod)
		clk.Set(due)
		eventually(t, fmt.Sprintf("rotation %d", r+1), func() bool {
			keys := listKeys(t, store)
			return keys[len(keys)-1].CreatedAt.Equal(due)
		})
		time.Sleep(30 * sched.PollInterval) // every instance passes again
		var created []time.Time
		for _, k := range listKeys(t, store) {
			if !k.CreatedAt.Before(due) {
				created = append(created, k.CreatedAt)
			}
		}
		if len(created) != 1 {
			t.Fatalf("rotation %d: keys created at %v, want exactly one at %v", r+1, created, due)
		}
		// Let the new key activate before the next round.
		clk.Set(due.Add(sched.ActivationDelay()))
	}
}
