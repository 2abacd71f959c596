// Package limittest is the conformance suite every challenge.LimitStore
// implementation passes: the memory store and the Redis store run the same
// tests, so the embedded default limits like production.
package limittest

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
)

// window outlives every test but the expiry ones, and lets Redis clean up
// behind a test that fails half-way.
const window = time.Minute

// short is the real time the expiry tests wait on: long enough for a
// loaded machine to do a round trip well inside it.
const short = 300 * time.Millisecond

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) challenge.LimitStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s challenge.LimitStore)
	}{
		{"HitCounts", testHitCounts},
		{"HitRefusesAtLimit", testHitRefusesAtLimit},
		{"WindowIsFixed", testWindowIsFixed},
		{"Unhit", testUnhit},
		{"UnhitToZeroRestartsWindow", testUnhitToZeroRestartsWindow},
		{"LockExtendsNeverShortens", testLockExtendsNeverShortens},
		{"LockExpires", testLockExpires},
		{"Get", testGet},
		{"Reset", testReset},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"ConcurrentHits", testConcurrentHits},
		{"ConcurrentHitsAtLimit", testConcurrentHitsAtLimit},
		{"InvalidArguments", testInvalidArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func hit(t *testing.T, s challenge.LimitStore, key string, limit int64, w time.Duration) (challenge.LimitEntry, bool) {
	t.Helper()
	e, ok, err := s.Hit(context.Background(), key, limit, w)
	if err != nil {
		t.Fatalf("Hit(%q, %d, %v): %v", key, limit, w, err)
	}
	return e, ok
}

func get(t *testing.T, s challenge.LimitStore, key string) challenge.LimitEntry {
	t.Helper()
	es, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if len(es) != 1 {
		t.Fatalf("Get(%q) returned %d entries, want 1", key, len(es))
	}
	return es[0]
}

func lock(t *testing.T, s challenge.LimitStore, key string, d time.Duration) {
	t.Helper()
	if err := s.Lock(context.Background(), key, d); err != nil {
		t.Fatalf("Lock(%q, %v): %v", key, d, err)
	}
}

func unhit(t *testing.T, s challenge.LimitStore, key string) {
	t.Helper()
	if err := s.Unhit(context.Background(), key); err != nil {
		t.Fatalf("Unhit(%q): %v", key, err)
	}
}

// wantTTL checks a TTL against the duration it was set to: not above it,
// and not so far below that it cannot be the same one.
func wantTTL(t *testing.T, what string, got, set time.Duration) {
	t.Helper()
	if got <= set-10*time.Second || got > set {
		t.Fatalf("%s TTL = %v, want about %v", what, got, set)
	}
}

func testHitCounts(t *testing.T, s challenge.LimitStore) {
	const key = "fail:account:alice"
	for want := int64(1); want <= 5; want++ {
		e, ok := hit(t, s, key, math.MaxInt64, window)
		if !ok || e.Count != want {
			t.Fatalf("hit %d = %+v, %v; want count %d, true", want, e, ok, want)
		}
		wantTTL(t, "Hit", e.TTL, window)
	}
	e := get(t, s, key)
	if e.Count != 5 {
		t.Fatalf("Get = %+v, want count 5", e)
	}
	wantTTL(t, "Get", e.TTL, window)
}

func testHitRefusesAtLimit(t *testing.T, s challenge.LimitStore) {
	const key = "send:destination:bob@example.com"
	for want := int64(1); want <= 3; want++ {
		if e, ok := hit(t, s, key, 3, window); !ok || e.Count != want {
			t.Fatalf("hit %d = %+v, %v; want count %d, true", want, e, ok, want)
		}
	}
	for range 2 {
		e, ok := hit(t, s, key, 3, window)
		if ok || e.Count != 3 {
			t.Fatalf("hit past limit = %+v, %v; want count 3, false", e, ok)
		}
		wantTTL(t, "refused Hit", e.TTL, window)
	}
	// A higher limit on the same counter counts on from where it stands.
	if e, ok := hit(t, s, key, 4, window); !ok || e.Count != 4 {
		t.Fatalf("hit with limit 4 = %+v, %v; want count 4, true", e, ok)
	}
}

func testWindowIsFixed(t *testing.T, s challenge.LimitStore) {
	const key = "fail:ip:192.0.2.1"
	hit(t, s, key, math.MaxInt64, short)
	time.Sleep(short / 2)
	// A later hit must not restart the window: were it to, the counter
	// would still be there after the second sleep.
	if e, _ := hit(t, s, key, math.MaxInt64, short); e.Count != 2 || e.TTL > short/2 {
		t.Fatalf("second hit = %+v, want count 2 and at most %v left", e, short/2)
	}
	time.Sleep(short/2 + 100*time.Millisecond)
	if e := get(t, s, key); e != (challenge.LimitEntry{}) {
		t.Fatalf("Get after the window = %+v, want the zero entry", e)
	}
	if e, ok := hit(t, s, key, math.MaxInt64, window); !ok || e.Count != 1 {
		t.Fatalf("hit after the window = %+v, %v; want a fresh count of 1", e, ok)
	}
}

func testUnhit(t *testing.T, s challenge.LimitStore) {
	const key = "fail:ip:192.0.2.2"
	unhit(t, s, key) // absent: nothing to take back, nothing created
	if e := get(t, s, key); e != (challenge.LimitEntry{}) {
		t.Fatalf("Get after Unhit of an absent key = %+v, want the zero entry", e)
	}
	for range 3 {
		hit(t, s, key, 3, window)
	}
	unhit(t, s, key)
	e := get(t, s, key)
	if e.Count != 2 {
		t.Fatalf("Get after Unhit = %+v, want count 2", e)
	}
	wantTTL(t, "Get after Unhit", e.TTL, window)
	if e, ok := hit(t, s, key, 3, window); !ok || e.Count != 3 {
		t.Fatalf("hit after Unhit = %+v, %v; want count 3, true: the taken-back hit frees its place", e, ok)
	}
}

func testUnhitToZeroRestartsWindow(t *testing.T, s challenge.LimitStore) {
	const key = "send:cooldown:+15550100"
	hit(t, s, key, 1, short)
	time.Sleep(short / 2)
	unhit(t, s, key)
	if e := get(t, s, key); e != (challenge.LimitEntry{}) {
		t.Fatalf("Get after taking back the only hit = %+v, want the zero entry", e)
	}
	// The next hit must get a whole window, not what was left of the
	// old one.
	e, ok := hit(t, s, key, 1, short)
	if !ok || e.Count != 1 || e.TTL <= short/2 {
		t.Fatalf("hit after Unhit to zero = %+v, %v; want count 1 with a fresh window", e, ok)
	}
}

func testLockExtendsNeverShortens(t *testing.T, s challenge.LimitStore) {
	const key = "lock:pair:alice"
	lock(t, s, key, 2*window)
	lock(t, s, key, window)
	wantTTL(t, "lock after a shorter Lock", get(t, s, key).TTL, 2*window)
	lock(t, s, key, 3*window)
	wantTTL(t, "lock after a longer Lock", get(t, s, key).TTL, 3*window)
}

func testLockExpires(t *testing.T, s challenge.LimitStore) {
	const key = "lock:account:carol"
	lock(t, s, key, short)
	if d := get(t, s, key).TTL; d <= 0 || d > short {
		t.Fatalf("lock TTL = %v, want in (0, %v]", d, short)
	}
	time.Sleep(short + 100*time.Millisecond)
	if e := get(t, s, key); e != (challenge.LimitEntry{}) {
		t.Fatalf("Get after the lock = %+v, want the zero entry", e)
	}
}

func testGet(t *testing.T, s challenge.LimitStore) {
	hit(t, s, "a", math.MaxInt64, window)
	hit(t, s, "a", math.MaxInt64, window)
	lock(t, s, "b", 2*window)
	es, err := s.Get(context.Background(), "b", "absent", "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 {
		t.Fatalf("Get returned %d entries, want 3", len(es))
	}
	wantTTL(t, "lock b", es[0].TTL, 2*window)
	if es[1] != (challenge.LimitEntry{}) {
		t.Fatalf("absent key = %+v, want the zero entry", es[1])
	}
	if es[2].Count != 2 {
		t.Fatalf("counter a = %+v, want count 2", es[2])
	}
	wantTTL(t, "counter a", es[2].TTL, window)
	if es, err := s.Get(context.Background()); err != nil || len(es) != 0 {
		t.Fatalf("Get() = %v, %v; want no entries and no error", es, err)
	}
}

func testReset(t *testing.T, s challenge.LimitStore) {
	hit(t, s, "fail:account:dave", math.MaxInt64, window)
	lock(t, s, "lock:account:dave", window)
	hit(t, s, "fail:ip:192.0.2.3", math.MaxInt64, window)
	if err := s.Reset(context.Background(), "fail:account:dave", "lock:account:dave", "absent"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if err := s.Reset(context.Background()); err != nil {
		t.Fatalf("Reset(): %v", err)
	}
	es, err := s.Get(context.Background(), "fail:account:dave", "lock:account:dave", "fail:ip:192.0.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if es[0] != (challenge.LimitEntry{}) || es[1] != (challenge.LimitEntry{}) {
		t.Fatalf("after Reset: %+v, %+v; want zero entries", es[0], es[1])
	}
	if es[2].Count != 1 {
		t.Fatalf("a key not reset = %+v, want count 1", es[2])
	}
	if e, ok := hit(t, s, "fail:account:dave", math.MaxInt64, window); !ok || e.Count != 1 {
		t.Fatalf("hit after Reset = %+v, %v; want a fresh count of 1", e, ok)
	}
}

func testKeysAreIndependent(t *testing.T, s challenge.LimitStore) {
	// Braces would move a Redis hash tag; the last is a full-width letter.
	keys := []string{"fail:account:grace", "fail:account:grace}{x", "fail:account:{grace}", "fail:account:ｇrace"}
	for i, k := range keys {
		for range i + 1 {
			hit(t, s, k, math.MaxInt64, window)
		}
	}
	es, err := s.Get(context.Background(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if e.Count != int64(i+1) {
			t.Fatalf("Get(%q) = %+v, want count %d", keys[i], e, i+1)
		}
	}
}

// concurrently runs fn n times at once and fails the test on any error.
func concurrently(t *testing.T, n int, fn func() error) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, n)
	)
	for range n {
		wg.Go(func() {
			<-start
			if err := fn(); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func testConcurrentHits(t *testing.T, s challenge.LimitStore) {
	const key, n = "fail:ip:192.0.2.4", 100
	var (
		mu   sync.Mutex
		seen = make(map[int64]bool)
	)
	concurrently(t, n, func() error {
		e, ok, err := s.Hit(context.Background(), key, math.MaxInt64, window)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if ok {
			seen[e.Count] = true
		}
		return nil
	})
	if e := get(t, s, key); e.Count != n {
		t.Fatalf("after %d concurrent hits: count %d, want %d", n, e.Count, n)
	}
	// Every hit saw its own count: none was lost or doubled.
	if len(seen) != n {
		t.Fatalf("%d distinct counts returned to %d hits, want %d", len(seen), n, n)
	}
}

func testConcurrentHitsAtLimit(t *testing.T, s challenge.LimitStore) {
	const key, n, limit = "send:ip:192.0.2.5", 100, 10
	var (
		mu      sync.Mutex
		allowed int
	)
	concurrently(t, n, func() error {
		_, ok, err := s.Hit(context.Background(), key, limit, window)
		if err != nil {
			return err
		}
		if ok {
			mu.Lock()
			allowed++
			mu.Unlock()
		}
		return nil
	})
	if allowed != limit {
		t.Fatalf("%d of %d concurrent hits allowed, want exactly %d", allowed, n, limit)
	}
	if e := get(t, s, key); e.Count != limit {
		t.Fatalf("count %d, want %d", e.Count, limit)
	}
}

func testInvalidArguments(t *testing.T, s challenge.LimitStore) {
	ctx := context.Background()
	for _, tt := range []struct {
		limit int64
		w     time.Duration
	}{{0, window}, {-1, window}, {1, 0}, {1, -time.Second}} {
		if _, ok, err := s.Hit(ctx, "k", tt.limit, tt.w); err == nil || ok {
			t.Errorf("Hit(limit %d, window %v) = %v, %v; want an error and false", tt.limit, tt.w, ok, err)
		}
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if err := s.Lock(ctx, "k", d); err == nil {
			t.Errorf("Lock(%v): no error", d)
		}
	}
	if e := get(t, s, "k"); e != (challenge.LimitEntry{}) {
		t.Fatalf("after invalid calls: Get = %+v, want the zero entry", e)
	}
}
