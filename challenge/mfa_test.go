package challenge_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
)

var mfaTestKey = bytes.Repeat([]byte("m"), 32)

func newMFATokens(t *testing.T, store challenge.Store, opts ...challenge.MFAOption) *challenge.MFATokens {
	t.Helper()
	m, err := challenge.NewMFATokens(store, mfaTestKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var mfaTestClaims = challenge.MFAClaims{
	UserID:   "user-1",
	ClientID: "web",
	AMR:      []string{"pwd"},
	AuthTime: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	Scope:    "openid email",
}

func issueMFA(t *testing.T, m *challenge.MFATokens) string {
	t.Helper()
	token, _, err := m.Issue(context.Background(), mfaTestClaims)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return token
}

func TestNewMFATokensValidates(t *testing.T) {
	store := challenge.NewMemoryStore()
	for _, tt := range []struct {
		name  string
		store challenge.Store
		key   []byte
		opts  []challenge.MFAOption
	}{
		{"nil store", nil, mfaTestKey, nil},
		{"short key", store, mfaTestKey[:31], nil},
		{"zero ttl", store, mfaTestKey, []challenge.MFAOption{challenge.MFATTL(0)}},
		{"no attempts", store, mfaTestKey, []challenge.MFAOption{challenge.MFAMaxAttempts(0)}},
	} {
		if _, err := challenge.NewMFATokens(tt.store, tt.key, tt.opts...); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestMFAIssueBeginComplete(t *testing.T) {
	m := newMFATokens(t, challenge.NewMemoryStore())
	ctx := context.Background()
	token, ttl, err := m.Issue(ctx, mfaTestClaims)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || strings.ContainsAny(token, "+/=") || ttl != 5*time.Minute {
		t.Fatalf("Issue = %q, %v; want 43 base64url characters and 5m", token, ttl)
	}
	if other := issueMFA(t, m); other == token {
		t.Fatal("two Issues returned the same token")
	}
	claims, err := m.Begin(ctx, token)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if !reflect.DeepEqual(claims, mfaTestClaims) {
		t.Fatalf("Begin = %+v, want %+v", claims, mfaTestClaims)
	}
	if err := m.Complete(ctx, token); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if err := m.Complete(ctx, token); !errors.Is(err, challenge.ErrInvalidMFAToken) {
		t.Fatalf("second Complete error = %v, want ErrInvalidMFAToken: a token is single-use", err)
	}
	if _, err := m.Begin(ctx, token); !errors.Is(err, challenge.ErrInvalidMFAToken) {
		t.Fatalf("Begin after Complete error = %v, want ErrInvalidMFAToken", err)
	}
}

func TestMFAIssueRequiresUser(t *testing.T) {
	m := newMFATokens(t, challenge.NewMemoryStore())
	c := mfaTestClaims
	c.UserID = ""
	if _, _, err := m.Issue(context.Background(), c); err == nil {
		t.Fatal("Issue with no user id: no error")
	}
}

// The stored record is part of the deployment's state: instances of
// different versions must agree on it, so its construction is pinned here.
func TestMFAStoresKeyedHash(t *testing.T) {
	store := challenge.NewMemoryStore()
	token := issueMFA(t, newMFATokens(t, store))
	sum := sha256.Sum256([]byte(token))
	rec, err := store.Attempt(context.Background(), "mfa:"+hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatalf("no record under mfa:<hex SHA-256(token)>: %v", err)
	}
	mac := hmac.New(sha256.New, mfaTestKey)
	mac.Write([]byte(token))
	if !bytes.Equal(rec.Hash, mac.Sum(nil)) {
		t.Fatalf("stored hash %x, want HMAC-SHA256(key, token)", rec.Hash)
	}
	if bytes.Contains(rec.Payload, []byte(token)) {
		t.Fatal("the payload holds the token")
	}
}

func TestMFAAttempts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  []challenge.MFAOption
		begin int // Begins that succeed before the next fails
	}{
		{"default", nil, 5},
		{"one", []challenge.MFAOption{challenge.MFAMaxAttempts(1)}, 1},
		{"three", []challenge.MFAOption{challenge.MFAMaxAttempts(3)}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMFATokens(t, challenge.NewMemoryStore(), tt.opts...)
			ctx := context.Background()
			token := issueMFA(t, m)
			for i := range tt.begin { // each a wrong second factor: no Complete
				if _, err := m.Begin(ctx, token); err != nil {
					t.Fatalf("Begin %d: %v", i+1, err)
				}
			}
			if _, err := m.Begin(ctx, token); !errors.Is(err, challenge.ErrInvalidMFAToken) {
				t.Fatalf("Begin %d error = %v, want ErrInvalidMFAToken", tt.begin+1, err)
			}
		})
	}
}

func TestMFAExpiry(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    []challenge.MFAOption
		elapsed time.Duration
		want    error
	}{
		{"fresh", nil, 0, nil},
		{"just before default ttl", nil, 5*time.Minute - time.Nanosecond, nil},
		{"at default ttl", nil, 5 * time.Minute, challenge.ErrInvalidMFAToken},
		{"within custom ttl", []challenge.MFAOption{challenge.MFATTL(10 * time.Minute)}, 9 * time.Minute, nil},
		{"past custom ttl", []challenge.MFAOption{challenge.MFATTL(time.Minute)}, time.Minute, challenge.ErrInvalidMFAToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newLimitClock()
			m := newMFATokens(t, challenge.NewMemoryStore(challenge.MemoryClock(clk.Now)), tt.opts...)
			token := issueMFA(t, m)
			clk.Advance(tt.elapsed)
			if _, err := m.Begin(context.Background(), token); !errors.Is(err, tt.want) {
				t.Fatalf("Begin after %v error = %v, want %v", tt.elapsed, err, tt.want)
			}
			if err := m.Complete(context.Background(), token); !errors.Is(err, tt.want) {
				t.Fatalf("Complete after %v error = %v, want %v", tt.elapsed, err, tt.want)
			}
		})
	}
}

// mfaSpyStore counts the calls that reach a store and can make them fail.
type mfaSpyStore struct {
	challenge.Store
	calls atomic.Int32
	err   error
}

func (s *mfaSpyStore) Put(ctx context.Context, key string, rec challenge.Record, ttl time.Duration) error {
	s.calls.Add(1)
	if s.err != nil {
		return s.err
	}
	return s.Store.Put(ctx, key, rec, ttl)
}

func (s *mfaSpyStore) Attempt(ctx context.Context, key string) (challenge.Record, error) {
	s.calls.Add(1)
	if s.err != nil {
		return challenge.Record{}, s.err
	}
	return s.Store.Attempt(ctx, key)
}

func (s *mfaSpyStore) Consume(ctx context.Context, key string, hash []byte) (bool, error) {
	s.calls.Add(1)
	if s.err != nil {
		return false, s.err
	}
	return s.Store.Consume(ctx, key, hash)
}

func TestMFAWrongTokens(t *testing.T) {
	spy := &mfaSpyStore{Store: challenge.NewMemoryStore()}
	m := newMFATokens(t, spy)
	ctx := context.Background()
	token := issueMFA(t, m)
	flipped := []byte(token)
	flipped[0] = 'A'
	if token[0] == 'A' {
		flipped[0] = 'B'
	}

	// Unknown tokens of the right shape reach the store and find nothing.
	for _, wrong := range []string{string(flipped), strings.Repeat("A", 43)} {
		if _, err := m.Begin(ctx, wrong); !errors.Is(err, challenge.ErrInvalidMFAToken) {
			t.Errorf("Begin(%q) error = %v, want ErrInvalidMFAToken", wrong, err)
		}
		if err := m.Complete(ctx, wrong); !errors.Is(err, challenge.ErrInvalidMFAToken) {
			t.Errorf("Complete(%q) error = %v, want ErrInvalidMFAToken", wrong, err)
		}
	}
	// Malformed ones do not even reach it.
	before := spy.calls.Load()
	for _, wrong := range []string{"", token[:42], token + "A", strings.Repeat("!", 43), token[:42] + "=", strings.Repeat("é", 21) + "A"} {
		if _, err := m.Begin(ctx, wrong); !errors.Is(err, challenge.ErrInvalidMFAToken) {
			t.Errorf("Begin(%q) error = %v, want ErrInvalidMFAToken", wrong, err)
		}
		if err := m.Complete(ctx, wrong); !errors.Is(err, challenge.ErrInvalidMFAToken) {
			t.Errorf("Complete(%q) error = %v, want ErrInvalidMFAToken", wrong, err)
		}
	}
	if n := spy.calls.Load() - before; n != 0 {
		t.Errorf("malformed tokens made %d store calls, want none", n)
	}
	// None of that cost the real token an attempt.
	for range 5 {
		if _, err := m.Begin(ctx, token); err != nil {
			t.Fatalf("Begin(real token): %v", err)
		}
	}
}

// A token issued under one key is worthless under another: planting a
// record in the store is not enough without the key.
func TestMFAOtherKey(t *testing.T) {
	store := challenge.NewMemoryStore()
	token := issueMFA(t, newMFATokens(t, store))
	other, err := challenge.NewMFATokens(store, bytes.Repeat([]byte("o"), 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Begin(context.Background(), token); !errors.Is(err, challenge.ErrInvalidMFAToken) {
		t.Fatalf("Begin under another key error = %v, want ErrInvalidMFAToken", err)
	}
	if err := other.Complete(context.Background(), token); !errors.Is(err, challenge.ErrInvalidMFAToken) {
		t.Fatalf("Complete under another key error = %v, want ErrInvalidMFAToken", err)
	}
}

func TestMFAStoreErrors(t *testing.T) {
	spy := &mfaSpyStore{Store: challenge.NewMemoryStore()}
	m := newMFATokens(t, spy)
	token := issueMFA(t, m)
	spy.err = errors.New("store down")
	ctx := context.Background()
	if _, _, err := m.Issue(ctx, mfaTestClaims); !errors.Is(err, spy.err) {
		t.Errorf("Issue error = %v, want the store's", err)
	}
	if c, err := m.Begin(ctx, token); !errors.Is(err, spy.err) || errors.Is(err, challenge.ErrInvalidMFAToken) || c.UserID != "" {
		t.Errorf("Begin = %+v, %v; want no claims and the store's error", c, err)
	}
	if err := m.Complete(ctx, token); !errors.Is(err, spy.err) || errors.Is(err, challenge.ErrInvalidMFAToken) {
		t.Errorf("Complete error = %v, want the store's", err)
	}
}

func testMFACompleteConcurrent(t *testing.T, store challenge.Store) {
	const n = 50
	m := newMFATokens(t, store)
	token := issueMFA(t, m)
	if _, err := m.Begin(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		wins  atomic.Int32
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			err := m.Complete(context.Background(), token)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, challenge.ErrInvalidMFAToken):
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent Completes succeeded, want exactly 1", got, n)
	}
}

func TestMFACompleteConcurrent(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testMFACompleteConcurrent(t, challenge.NewMemoryStore()) })
	t.Run("redis", func(t *testing.T) { testMFACompleteConcurrent(t, newRedisStore(t)) })
}
