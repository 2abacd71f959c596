// Package keystoretest is the conformance suite every writable
// keystore.Store implementation must pass.
package keystoretest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/keystore"
)

// Run tests the Store that newStore returns; each call must return a new,
// empty store.
func Run(t *testing.T, newStore func(t *testing.T) keystore.Store) {
	t.Run("EmptyList", func(t *testing.T) { testEmptyList(t, newStore(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore) })
	t.Run("InsertUpdateDelete", func(t *testing.T) { testInsertUpdateDelete(t, newStore(t)) })
	t.Run("FnSeesStoredKeys", func(t *testing.T) { testFnSeesStoredKeys(t, newStore(t)) })
	t.Run("FnErrorWritesNothing", func(t *testing.T) { testFnErrorWritesNothing(t, newStore(t)) })
	t.Run("UnchangedWritesNothing", func(t *testing.T) { testUnchangedWritesNothing(t, newStore(t)) })
	t.Run("DuplicateKidRefused", func(t *testing.T) { testDuplicateKidRefused(t, newStore(t)) })
	t.Run("FirstKeyRace", func(t *testing.T) { testFirstKeyRace(t, newStore(t)) })
	t.Run("RotationRace", func(t *testing.T) { testRotationRace(t, newStore(t)) })
}

// Times carry microseconds, the precision stores keep, and a non-UTC zone,
// since only the instant has to survive.
var base = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.FixedZone("X", 5*3600+1800))

func storedKey(kid string) keystore.StoredKey {
	return keystore.StoredKey{
		ID:            kid,
		PublicKey:     []byte("public-" + kid + "\x00\xff"),
		PrivateSealed: []byte("sealed-" + kid + "\x00\x01\xfe"),
		CreatedAt:     base,
		ActivatesAt:   base.Add(time.Hour),
	}
}

// set makes s hold exactly keys.
func set(t *testing.T, s keystore.Store, keys ...keystore.StoredKey) {
	t.Helper()
	err := s.UpdateKeys(t.Context(), func([]keystore.StoredKey) ([]keystore.StoredKey, error) {
		return slices.Clone(keys), nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
}

func list(t *testing.T, s keystore.Store) []keystore.StoredKey {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	return keys
}

// wantKeys fails unless got is want, in order, field by field.
func wantKeys(t *testing.T, got []keystore.StoredKey, want ...keystore.StoredKey) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("store holds %v, want %v", kids(got), kids(want))
	}
	for i := range got {
		if d := diffKey(got[i], want[i]); d != "" {
			t.Fatalf("key %d (%s) differs:\n%s", i, want[i].ID, d)
		}
	}
}

func testEmptyList(t *testing.T, s keystore.Store) {
	if keys := list(t, s); len(keys) != 0 {
		t.Fatalf("ListKeys on an empty store: %d keys, want 0", len(keys))
	}
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) keystore.Store) {
	withTimes := storedKey("kid-times")
	withTimes.RetiresAt = base.Add(48 * time.Hour)
	withTimes.ExpiresAt = base.Add(72 * time.Hour)
	for _, tc := range []struct {
		name string
		key  keystore.StoredKey
	}{
		{"ZeroRetiresExpires", storedKey("kid-zero")},
		{"AllTimes", withTimes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			set(t, s, tc.key)
			wantKeys(t, list(t, s), tc.key)
		})
	}
}

func testInsertUpdateDelete(t *testing.T, s keystore.Store) {
	a, b, c := storedKey("kid-a"), storedKey("kid-b"), storedKey("kid-c")
	b.CreatedAt = base.Add(time.Second)
	c.CreatedAt = base.Add(2 * time.Second)
	set(t, s, a, b)
	wantKeys(t, list(t, s), a, b)

	// One pass: update a's times and sealed bytes, delete b, insert c.
	a2 := a
	a2.RetiresAt = base.Add(3 * time.Hour)
	a2.ExpiresAt = base.Add(4 * time.Hour)
	a2.ActivatesAt = base.Add(30 * time.Minute)
	a2.PrivateSealed = []byte("resealed-a")
	set(t, s, c, a2)
	// ListKeys orders by CreatedAt, whatever order fn answered in.
	wantKeys(t, list(t, s), a2, c)

	// Timestamps back to zero (NULL) and another update.
	c2 := c
	c2.CreatedAt = base.Add(-time.Hour)
	set(t, s, a, c2)
	wantKeys(t, list(t, s), c2, a)

	set(t, s)
	wantKeys(t, list(t, s))
}

func testFnSeesStoredKeys(t *testing.T, s keystore.Store) {
	a, b := storedKey("kid-a"), storedKey("kid-b")
	b.CreatedAt = base.Add(-time.Second) // listed first
	b.RetiresAt = base.Add(time.Hour)
	set(t, s, a, b)
	var seen []keystore.StoredKey
	err := s.UpdateKeys(t.Context(), func(current []keystore.StoredKey) ([]keystore.StoredKey, error) {
		seen = slices.Clone(current)
		return current, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	wantKeys(t, seen, b, a)
}

func testFnErrorWritesNothing(t *testing.T, s keystore.Store) {
	a := storedKey("kid-a")
	set(t, s, a)
	want := list(t, s)
	errFn := errors.New("fn says no")
	err := s.UpdateKeys(t.Context(), func(current []keystore.StoredKey) ([]keystore.StoredKey, error) {
		// Changes in place, to the argument's bytes too, then fails.
		current[0].RetiresAt = base.Add(time.Minute)
		current[0].PrivateSealed[0] ^= 0xff
		return append(current, storedKey("kid-b")), errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("UpdateKeys = %v, want fn's error", err)
	}
	wantKeys(t, list(t, s), want...)
}

func testUnchangedWritesNothing(t *testing.T, s keystore.Store) {
	a, b := storedKey("kid-a"), storedKey("kid-b")
	b.ExpiresAt = base.Add(time.Hour)
	set(t, s, a, b)
	for range 2 {
		err := s.UpdateKeys(t.Context(), func(current []keystore.StoredKey) ([]keystore.StoredKey, error) {
			return current, nil
		})
		if err != nil {
			t.Fatalf("UpdateKeys: %v", err)
		}
		wantKeys(t, list(t, s), a, b)
	}
	// The same instants in another zone are no change either.
	err := s.UpdateKeys(t.Context(), func(current []keystore.StoredKey) ([]keystore.StoredKey, error) {
		for i := range current {
			current[i].CreatedAt = current[i].CreatedAt.UTC()
		}
		return current, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	wantKeys(t, list(t, s), a, b)
}

func testDuplicateKidRefused(t *testing.T, s keystore.Store) {
	a := storedKey("kid-a")
	set(t, s, a)
	for _, tc := range []struct {
		name string
		keys []keystore.StoredKey
	}{
		{"new kid twice", []keystore.StoredKey{a, storedKey("kid-b"), storedKey("kid-b")}},
		{"stored kid twice", []keystore.StoredKey{a, a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.UpdateKeys(t.Context(), func([]keystore.StoredKey) ([]keystore.StoredKey, error) {
				return tc.keys, nil
			})
			if !errors.Is(err, keystore.ErrConflict) {
				t.Fatalf("UpdateKeys = %v, want ErrConflict", err)
			}
			wantKeys(t, list(t, s), a)
		})
	}
}

// race runs n UpdateKeys at once, the i-th with fn(i), and fails on any
// error.
func race(t *testing.T, s keystore.Store, n int, fn func(i int, current []keystore.StoredKey) []keystore.StoredKey) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.UpdateKeys(t.Context(), func(current []keystore.StoredKey) ([]keystore.StoredKey, error) {
				return fn(i, current), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateKeys %d: %v", i, err)
		}
	}
}

// testFirstKeyRace: instances starting together each add a key if there is
// none; exactly one does.
func testFirstKeyRace(t *testing.T, s keystore.Store) {
	const n = 20
	race(t, s, n, func(i int, current []keystore.StoredKey) []keystore.StoredKey {
		if len(current) < 1 {
			current = append(current, storedKey(fmt.Sprintf("kid-%02d", i)))
		}
		return current
	})
	if keys := list(t, s); len(keys) != 1 {
		t.Fatalf("after the race the store holds %v, want exactly one key", kids(keys))
	}
}

// testRotationRace: instances each rotate if the newest key activated
// before a threshold; exactly one rotation happens, and the key it retired
// is updated once.
func testRotationRace(t *testing.T, s keystore.Store) {
	const n = 20
	first := storedKey("kid-first")
	set(t, s, first)
	threshold := first.ActivatesAt.Add(time.Minute)
	race(t, s, n, func(i int, current []keystore.StoredKey) []keystore.StoredKey {
		var newest time.Time
		for _, k := range current {
			if k.ActivatesAt.After(newest) {
				newest = k.ActivatesAt
			}
		}
		if !newest.Before(threshold) {
			return current
		}
		next := storedKey(fmt.Sprintf("kid-%02d", i))
		next.CreatedAt = threshold
		next.ActivatesAt = threshold.Add(time.Hour)
		for j := range current {
			current[j].RetiresAt = next.ActivatesAt
		}
		return append(current, next)
	})
	keys := list(t, s)
	if len(keys) != 2 || keys[0].ID != first.ID {
		t.Fatalf("after the race the store holds %v, want %s and one new key", kids(keys), first.ID)
	}
	if !keys[0].RetiresAt.Equal(keys[1].ActivatesAt) {
		t.Fatalf("first key retires at %v, want the new key's activation %v", keys[0].RetiresAt, keys[1].ActivatesAt)
	}
}

func diffKey(got, want keystore.StoredKey) string {
	var d string
	if got.ID != want.ID {
		d += fmt.Sprintf("ID: %q, want %q\n", got.ID, want.ID)
	}
	if !bytes.Equal(got.PublicKey, want.PublicKey) {
		d += fmt.Sprintf("PublicKey: %x, want %x\n", got.PublicKey, want.PublicKey)
	}
	if !bytes.Equal(got.PrivateSealed, want.PrivateSealed) {
		d += fmt.Sprintf("PrivateSealed: %x, want %x\n", got.PrivateSealed, want.PrivateSealed)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"ActivatesAt", got.ActivatesAt, want.ActivatesAt},
		{"RetiresAt", got.RetiresAt, want.RetiresAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	} {
		// Equal, not ==: a store may return another zone or no monotonic
		// reading, and a zero time must come back zero.
		if !f.got.Equal(f.want) || f.got.IsZero() != f.want.IsZero() {
			d += fmt.Sprintf("%s: %v, want %v\n", f.name, f.got, f.want)
		}
	}
	return d
}

func kids(keys []keystore.StoredKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
