package keystore_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/keystore"
)

func publishedKids(m *keystore.Manager) []string {
	var kids []string
	for _, k := range m.Published() {
		kids = append(kids, k.ID)
	}
	return kids
}

func TestRekey(t *testing.T) {
	thirdKEK := keystore.KEK(bytes.Repeat([]byte{9}, 32))
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.new(t)
			clk := testclock.New(t0)
			m := rotatingManager(t, store, testKEK, clk.Now)
			if err := m.Load(t.Context()); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, _, err := m.Rotate(t.Context()); err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			want := publishedKids(m)
			before := listKeys(t, store)

			t.Run("wrong old KEK writes nothing", func(t *testing.T) {
				_, err := keystore.Rekey(t.Context(), store, thirdKEK, otherKEK)
				if err == nil || !strings.Contains(err.Error(), before[0].ID) || !strings.Contains(err.Error(), "key-encryption key") {
					t.Fatalf("Rekey with the wrong old KEK = %v, want an error naming %s", err, before[0].ID)
				}
				if after := listKeys(t, store); !slices.EqualFunc(before, after, sameStored) {
					t.Fatal("a failed Rekey changed the store")
				}
			})
			t.Run("zero KEK refused", func(t *testing.T) {
				for _, keks := range [][2]keystore.KEK{{{}, otherKEK}, {testKEK, {}}} {
					if _, err := keystore.Rekey(t.Context(), store, keks[0], keks[1]); err == nil {
						t.Error("Rekey with a zero KEK succeeded")
					}
				}
			})

			n, err := keystore.Rekey(t.Context(), store, testKEK, otherKEK)
			if err != nil || n != 2 {
				t.Fatalf("Rekey = %d, %v; want 2 keys", n, err)
			}
			after := listKeys(t, store)
			for i := range after {
				if after[i].ID != before[i].ID || bytes.Equal(after[i].PrivateSealed, before[i].PrivateSealed) ||
					!after[i].ActivatesAt.Equal(before[i].ActivatesAt) || !after[i].RetiresAt.Equal(before[i].RetiresAt) {
					t.Fatalf("key %d after Rekey: %s, want %s re-sealed with its times kept", i, after[i].ID, before[i].ID)
				}
			}

			withNew := newManager(t, store, otherKEK, 0, append(withSchedule(testSchedule), keystore.WithClock(clk.Now), noGenerate(t))...)
			if err := withNew.Load(t.Context()); err != nil {
				t.Fatalf("Load with the new KEK: %v", err)
			}
			if got := publishedKids(withNew); !slices.Equal(got, want) {
				t.Fatalf("with the new KEK published %v, want %v", got, want)
			}
			withOld := newManager(t, store, testKEK, 0, noGenerate(t))
			if err := withOld.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "key-encryption key") {
				t.Fatalf("Load with the old KEK = %v, want a key-encryption key error", err)
			}

			// The instance still on the old KEK keeps its keys but never
			// adds one sealed under it, even when a rotation falls due.
			clk.Set(t0.Add(3 * time.Hour))
			if err := m.Maintain(t.Context()); err == nil {
				t.Fatal("Maintain on the old KEK succeeded after Rekey")
			}
			if _, _, err := m.Rotate(t.Context()); err == nil {
				t.Fatal("Rotate on the old KEK succeeded after Rekey")
			}
			if got := listKeys(t, store); !slices.EqualFunc(got, after, sameStored) {
				t.Fatal("the old-KEK instance changed the store")
			}
			if _, err := m.Signing(); err != nil {
				t.Fatalf("the old-KEK instance lost its keys: %v", err)
			}
		})
	}
}

// TestUpdateRefusesKeyItCannotOpen: a key another KEK sealed appears
// between an instance's read and its update; the instance does not rotate.
func TestUpdateRefusesKeyItCannotOpen(t *testing.T) {
	keys := testKeys(t)
	clk := testclock.New(t0.Add(2 * time.Hour))
	ours := storedKey(t, testKEK, keys[0], keystore.Key{CreatedAt: t0, ActivatesAt: t0})
	theirs := storedKey(t, otherKEK, keys[2], keystore.Key{CreatedAt: t0, ActivatesAt: t0.Add(time.Hour)})
	store := &racingStore{fakeStore: fakeStore{keys: []keystore.StoredKey{ours}}, sneak: theirs}
	m := rotatingManager(t, store, testKEK, clk.Now)
	err := m.Maintain(t.Context())
	if err == nil || !strings.Contains(err.Error(), theirs.ID) || !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("Maintain = %v, want an unseal error naming %s", err, theirs.ID)
	}
	if got := len(store.keys); got != 2 {
		t.Fatalf("store holds %d keys, want the two it had", got)
	}
}

// racingStore adds sneak to its keys just before the first UpdateKeys, as
// another instance would between a Manager's read and its update.
type racingStore struct {
	fakeStore
	sneak keystore.StoredKey
}

func (s *racingStore) UpdateKeys(ctx context.Context, fn func([]keystore.StoredKey) ([]keystore.StoredKey, error)) error {
	s.mu.Lock()
	if s.sneak.ID != "" {
		s.keys = append(s.keys, s.sneak)
		s.sneak = keystore.StoredKey{}
	}
	s.mu.Unlock()
	return s.fakeStore.UpdateKeys(ctx, fn)
}
