// Package keystoretest is the conformance suite every keystore.Store
// implementation must pass.
package keystoretest

import (
	"bytes"
	"errors"
	"fmt"
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
	t.Run("SecondInsertConflicts", func(t *testing.T) { testSecondInsertConflicts(t, newStore(t)) })
	t.Run("InsertRace", func(t *testing.T) { testInsertRace(t, newStore(t)) })
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

func testEmptyList(t *testing.T, s keystore.Store) {
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(keys) != 0 {
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
			if err := s.InsertFirstKey(t.Context(), tc.key); err != nil {
				t.Fatalf("InsertFirstKey: %v", err)
			}
			keys, err := s.ListKeys(t.Context())
			if err != nil {
				t.Fatalf("ListKeys: %v", err)
			}
			if len(keys) != 1 {
				t.Fatalf("ListKeys: %d keys, want 1", len(keys))
			}
			if diff := diffKey(keys[0], tc.key); diff != "" {
				t.Fatalf("ListKeys returned a different key:\n%s", diff)
			}
		})
	}
}

func testSecondInsertConflicts(t *testing.T, s keystore.Store) {
	first := storedKey("kid-first")
	if err := s.InsertFirstKey(t.Context(), first); err != nil {
		t.Fatalf("InsertFirstKey: %v", err)
	}
	for _, kid := range []string{"kid-second", first.ID} {
		if err := s.InsertFirstKey(t.Context(), storedKey(kid)); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("InsertFirstKey(%s) into a non-empty store: %v, want ErrConflict", kid, err)
		}
	}
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(keys) != 1 || keys[0].ID != first.ID {
		t.Fatalf("after conflicting inserts ListKeys = %v, want only %s", kids(keys), first.ID)
	}
}

func testInsertRace(t *testing.T, s keystore.Store) {
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InsertFirstKey(t.Context(), storedKey(fmt.Sprintf("kid-%02d", i)))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("InsertFirstKey succeeded for both kid-%02d and kid-%02d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, keystore.ErrConflict):
			t.Errorf("InsertFirstKey(kid-%02d): %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no InsertFirstKey succeeded")
	}
	keys, err := s.ListKeys(t.Context())
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if want := fmt.Sprintf("kid-%02d", winner); len(keys) != 1 || keys[0].ID != want {
		t.Fatalf("after the race ListKeys = %v, want only %s", kids(keys), want)
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
