// Package challengetest is the conformance suite every challenge.Store
// implementation passes: the memory store and the Redis store run the same
// tests, so the embedded default behaves like production.
package challengetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
)

// ttl outlives every test but the expiry one, and lets Redis clean up
// behind a test that fails half-way.
const ttl = time.Minute

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) challenge.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s challenge.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutReplaces", testPutReplaces},
		{"ConsumeWrongHash", testConsumeWrongHash},
		{"ConsumeTwice", testConsumeTwice},
		{"ConsumeConcurrent", testConsumeConcurrent},
		{"Delete", testDelete},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"Expiry", testExpiry},
		{"Absent", testAbsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// hash and payload hold bytes a careless encoding would mangle: NUL,
// invalid UTF-8, quotes.
var (
	hash    = []byte{0x00, 0xff, 0x10, '"', '\\', 0x80, 0x00, 0x7f, 0xfe, 0x01}
	payload = []byte("{\"user\":\"u1\"}\x00\xff")
)

func put(t *testing.T, s challenge.Store, key string, rec challenge.Record, ttl time.Duration) {
	t.Helper()
	if err := s.Put(context.Background(), key, rec, ttl); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func attempt(t *testing.T, s challenge.Store, key string) challenge.Record {
	t.Helper()
	rec, err := s.Attempt(context.Background(), key)
	if err != nil {
		t.Fatalf("Attempt(%q): %v", key, err)
	}
	return rec
}

func consume(t *testing.T, s challenge.Store, key string, h []byte) bool {
	t.Helper()
	ok, err := s.Consume(context.Background(), key, h)
	if err != nil {
		t.Fatalf("Consume(%q): %v", key, err)
	}
	return ok
}

func wantAbsent(t *testing.T, s challenge.Store, key string) {
	t.Helper()
	if _, err := s.Attempt(context.Background(), key); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("Attempt(%q) error = %v, want ErrNotFound", key, err)
	}
}

func testRoundTrip(t *testing.T, s challenge.Store) {
	const key = "code:signup:alice@example.com"
	put(t, s, key, challenge.Record{Hash: hash, Payload: payload, Attempts: 7}, ttl)
	for want := 1; want <= 3; want++ {
		rec := attempt(t, s, key)
		if !bytes.Equal(rec.Hash, hash) || !bytes.Equal(rec.Payload, payload) {
			t.Fatalf("Attempt %d = hash %x payload %q, want %x %q", want, rec.Hash, rec.Payload, hash, payload)
		}
		if rec.Attempts != want {
			t.Fatalf("Attempt %d: Attempts = %d, want %d (Put must ignore rec.Attempts)", want, rec.Attempts, want)
		}
	}
	if !consume(t, s, key, hash) {
		t.Fatal("Consume with the stored hash = false, want true")
	}
	wantAbsent(t, s, key)
}

func testPutReplaces(t *testing.T, s challenge.Store) {
	const key = "code:signup:bob"
	put(t, s, key, challenge.Record{Hash: []byte("old"), Payload: []byte("old payload")}, ttl)
	attempt(t, s, key)
	attempt(t, s, key)
	put(t, s, key, challenge.Record{Hash: []byte("new")}, ttl)
	rec := attempt(t, s, key)
	if string(rec.Hash) != "new" || rec.Payload != nil || rec.Attempts != 1 {
		t.Fatalf("after replace: Attempt = %+v, want hash new, no payload, 1 attempt", rec)
	}
	if consume(t, s, key, []byte("old")) {
		t.Fatal("Consume with the replaced hash = true, want false")
	}
}

func testConsumeWrongHash(t *testing.T, s challenge.Store) {
	const key = "code:login:carol"
	put(t, s, key, challenge.Record{Hash: hash, Payload: payload}, ttl)
	for _, h := range [][]byte{hash[:len(hash)-1], append(bytes.Clone(hash), 0), []byte("other"), nil} {
		if consume(t, s, key, h) {
			t.Fatalf("Consume(%x) = true, want false", h)
		}
	}
	if rec := attempt(t, s, key); !bytes.Equal(rec.Hash, hash) || rec.Attempts != 1 {
		t.Fatalf("after wrong consumes: Attempt = %+v, want the record kept with 1 attempt", rec)
	}
}

func testConsumeTwice(t *testing.T, s challenge.Store) {
	const key = "code:login:dave"
	put(t, s, key, challenge.Record{Hash: hash}, ttl)
	if !consume(t, s, key, hash) {
		t.Fatal("first Consume = false, want true")
	}
	if consume(t, s, key, hash) {
		t.Fatal("second Consume = true, want false")
	}
}

func testConsumeConcurrent(t *testing.T, s challenge.Store) {
	const key, n = "code:signup:erin", 50
	put(t, s, key, challenge.Record{Hash: hash}, ttl)
	var (
		wins  atomic.Int32
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			ok, err := s.Consume(context.Background(), key, hash)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Consume: %v", err)
	}
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent consumers won, want exactly 1", got, n)
	}
}

func testDelete(t *testing.T, s challenge.Store) {
	const key = "code:signup:frank"
	put(t, s, key, challenge.Record{Hash: hash}, ttl)
	for range 2 { // deleting an absent key is not an error
		if err := s.Delete(context.Background(), key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	wantAbsent(t, s, key)
	if consume(t, s, key, hash) {
		t.Fatal("Consume after Delete = true, want false")
	}
}

func testKeysAreIndependent(t *testing.T, s challenge.Store) {
	keys := []string{"code:signup:grace", "code:login:grace", "code:signup:grace}{x", "code:signup:ｇrace"}
	for i, k := range keys {
		put(t, s, k, challenge.Record{Hash: []byte{byte(i)}}, ttl)
	}
	if !consume(t, s, keys[0], []byte{0}) {
		t.Fatalf("Consume(%q) = false, want true", keys[0])
	}
	for i, k := range keys[1:] {
		if rec := attempt(t, s, k); !bytes.Equal(rec.Hash, []byte{byte(i + 1)}) || rec.Attempts != 1 {
			t.Fatalf("Attempt(%q) = %+v, want its own record with 1 attempt", k, rec)
		}
	}
}

func testExpiry(t *testing.T, s challenge.Store) {
	const key, short = "code:signup:heidi", 300 * time.Millisecond
	put(t, s, key, challenge.Record{Hash: hash}, short)
	time.Sleep(short / 2)
	// Attempt must leave the TTL alone: were it to restart it, the record
	// would still be there after the second sleep.
	attempt(t, s, key)
	time.Sleep(short/2 + 100*time.Millisecond)
	if consume(t, s, key, hash) {
		t.Fatal("Consume after expiry = true, want false")
	}
	wantAbsent(t, s, key)
}

func testAbsent(t *testing.T, s challenge.Store) {
	const key = "code:login:nobody"
	wantAbsent(t, s, key)
	if consume(t, s, key, hash) {
		t.Fatal("Consume of an absent key = true, want false")
	}
	if consume(t, s, key, nil) {
		t.Fatal("Consume of an absent key with an empty hash = true, want false")
	}
}
