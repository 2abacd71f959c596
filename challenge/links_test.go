package challenge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
)

// linkStore is a store for the Links tests and a way to let time pass on
// it: the memory store reads a test clock, Redis knows only real time.
type linkStore struct {
	name string
	open func(t *testing.T) (s challenge.Store, advance func(time.Duration))
}

var linkStores = []linkStore{
	{"memory", func(*testing.T) (challenge.Store, func(time.Duration)) {
		clk := testclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
		return challenge.NewMemoryStore(challenge.MemoryClock(clk.Now)), clk.Advance
	}},
	{"redis", func(t *testing.T) (challenge.Store, func(time.Duration)) {
		client, prefix := testenv.Redis(t)
		return challenge.NewRedisStore(client, prefix), time.Sleep
	}},
}

// forEachLinkStore runs fn on a fresh store of every kind.
func forEachLinkStore(t *testing.T, fn func(t *testing.T, s challenge.Store, advance func(time.Duration))) {
	for _, ls := range linkStores {
		t.Run(ls.name, func(t *testing.T) {
			s, advance := ls.open(t)
			fn(t, s, advance)
		})
	}
}

func newLinks(t *testing.T, s challenge.Store, opts ...challenge.LinkOption) *challenge.Links {
	t.Helper()
	l, err := challenge.NewLinks(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func issueLink(t *testing.T, l *challenge.Links, userID string) string {
	t.Helper()
	token, _, err := l.Issue(context.Background(), userID)
	if err != nil {
		t.Fatalf("Issue(%q): %v", userID, err)
	}
	return token
}

// wantLink checks that Peek then Consume of token give wantUser, or
// ErrInvalidLink when wantUser is "".
func wantLink(t *testing.T, l *challenge.Links, token, wantUser string) {
	t.Helper()
	ctx := context.Background()
	for _, op := range []struct {
		name string
		fn   func(context.Context, string) (string, error)
	}{{"Peek", l.Peek}, {"Consume", l.Consume}} {
		got, err := op.fn(ctx, token)
		switch {
		case wantUser == "" && !errors.Is(err, challenge.ErrInvalidLink):
			t.Fatalf("%s = %q, %v; want ErrInvalidLink", op.name, got, err)
		case wantUser != "" && (err != nil || got != wantUser):
			t.Fatalf("%s = %q, %v; want %q", op.name, got, err, wantUser)
		}
	}
}

func TestLinksSingleUse(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		l := newLinks(t, s)
		token, ttl, err := l.Issue(context.Background(), "user-1")
		if err != nil {
			t.Fatal(err)
		}
		// 32 bytes of unpadded base64url.
		if len(token) != 43 || ttl != 4*time.Hour {
			t.Fatalf("Issue = %q (%d characters), %v; want 43 characters, 4h", token, len(token), ttl)
		}
		wantLink(t, l, token, "user-1")
		wantLink(t, l, token, "")
	})
}

func TestLinksPeekDoesNotConsume(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		l := newLinks(t, s)
		token := issueLink(t, l, "user-1")
		for range 3 {
			if got, err := l.Peek(context.Background(), token); err != nil || got != "user-1" {
				t.Fatalf("Peek = %q, %v; want user-1", got, err)
			}
		}
		wantLink(t, l, token, "user-1")
	})
}

func TestLinksExpiry(t *testing.T) {
	const ttl = 400 * time.Millisecond
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, advance func(time.Duration)) {
		l := newLinks(t, s, challenge.LinkTTL(ttl))
		token := issueLink(t, l, "user-1")
		advance(ttl / 2)
		if got, err := l.Peek(context.Background(), token); err != nil || got != "user-1" {
			t.Fatalf("Peek within the TTL = %q, %v; want user-1", got, err)
		}
		advance(ttl/2 + 100*time.Millisecond)
		wantLink(t, l, token, "")
	})
}

func TestLinksDefaultTTL(t *testing.T) {
	clk := testclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	l := newLinks(t, challenge.NewMemoryStore(challenge.MemoryClock(clk.Now)))
	token := issueLink(t, l, "user-1")
	clk.Advance(4*time.Hour - time.Nanosecond)
	if _, err := l.Peek(context.Background(), token); err != nil {
		t.Fatalf("Peek just before 4h: %v", err)
	}
	clk.Advance(time.Nanosecond)
	wantLink(t, l, token, "")
}

func TestLinksNewerReplacesOlder(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		l := newLinks(t, s)
		other := issueLink(t, l, "user-2")
		old := issueLink(t, l, "user-1")
		token := issueLink(t, l, "user-1")
		// The replaced link's record is gone, not just refused (checked
		// before Peek and Consume, which could remove it themselves).
		oldHash := sha256.Sum256([]byte(old))
		if _, err := s.Attempt(context.Background(), "link:"+hex.EncodeToString(oldHash[:])); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("record of the replaced link: Attempt error = %v, want ErrNotFound", err)
		}
		wantLink(t, l, old, "")
		wantLink(t, l, token, "user-1")
		wantLink(t, l, other, "user-2")
	})
}

func TestLinksConcurrentConsume(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		const n = 20
		l := newLinks(t, s)
		token := issueLink(t, l, "user-1")
		var (
			wins  atomic.Int32
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make(chan error, n)
		)
		for range n {
			wg.Go(func() {
				<-start
				userID, err := l.Consume(context.Background(), token)
				switch {
				case err == nil && userID == "user-1":
					wins.Add(1)
				case !errors.Is(err, challenge.ErrInvalidLink):
					errs <- err
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
			t.Fatalf("%d of %d concurrent Consumes succeeded, want exactly 1", got, n)
		}
	})
}

// However Issues for one user interleave, exactly one of their links works.
func TestLinksConcurrentIssue(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		const n = 10
		l := newLinks(t, s)
		tokens := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				token, _, err := l.Issue(context.Background(), "user-1")
				if err != nil {
					t.Errorf("Issue: %v", err)
				}
				tokens[i] = token
			})
		}
		close(start)
		wg.Wait()
		live := 0
		for _, token := range tokens {
			_, err := l.Peek(context.Background(), token)
			switch {
			case err == nil:
				live++
			case !errors.Is(err, challenge.ErrInvalidLink):
				t.Fatalf("Peek: %v", err)
			}
		}
		if live != 1 {
			t.Fatalf("%d of %d links issued concurrently to one user are live, want exactly 1", live, n)
		}
	})
}

// Two racing Issues can each leave a link record behind; only the one the
// user's pointer names may work. The race is staged here by putting a
// stale record back after a newer Issue.
func TestLinksOnlyThePointedLinkIsLive(t *testing.T) {
	forEachLinkStore(t, func(t *testing.T, s challenge.Store, _ func(time.Duration)) {
		l := newLinks(t, s)
		stale := issueLink(t, l, "user-1")
		token := issueLink(t, l, "user-1")
		sum := sha256.Sum256([]byte(stale))
		rec := challenge.Record{Hash: sum[:], Payload: []byte("user-1")}
		if err := s.Put(context.Background(), "link:"+hex.EncodeToString(sum[:]), rec, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantLink(t, l, stale, "")
		wantLink(t, l, token, "user-1")
	})
}

// linkSpy counts the calls that reach a store, records what is Put, and
// can make every call fail.
type linkSpy struct {
	challenge.Store
	calls atomic.Int32
	err   error
	puts  map[string]challenge.Record
}

func (s *linkSpy) Put(ctx context.Context, key string, rec challenge.Record, ttl time.Duration) error {
	s.calls.Add(1)
	if s.err != nil {
		return s.err
	}
	if s.puts == nil {
		s.puts = make(map[string]challenge.Record)
	}
	s.puts[key] = rec
	return s.Store.Put(ctx, key, rec, ttl)
}

func (s *linkSpy) Attempt(ctx context.Context, key string) (challenge.Record, error) {
	s.calls.Add(1)
	if s.err != nil {
		return challenge.Record{}, s.err
	}
	return s.Store.Attempt(ctx, key)
}

func (s *linkSpy) Consume(ctx context.Context, key string, hash []byte) (bool, error) {
	s.calls.Add(1)
	if s.err != nil {
		return false, s.err
	}
	return s.Store.Consume(ctx, key, hash)
}

func (s *linkSpy) Delete(ctx context.Context, key string) error {
	s.calls.Add(1)
	if s.err != nil {
		return s.err
	}
	return s.Store.Delete(ctx, key)
}

func TestLinksRejectMalformedWithoutStore(t *testing.T) {
	spy := &linkSpy{Store: challenge.NewMemoryStore()}
	l := newLinks(t, spy)
	token := issueLink(t, l, "user-1")
	for _, tt := range []struct{ name, token string }{
		{"empty", ""},
		{"257 characters", strings.Repeat("A", 257)},
		{"standard alphabet +", token[:40] + "+AA"},
		{"standard alphabet /", token[:40] + "/AA"},
		{"padded", token + "="},
		{"trailing newline", token + "\n"},
		{"inner CR LF", token[:20] + "\r\n" + token[20:]},
		{"space", token[:20] + " " + token[21:]},
		{"NUL", token[:42] + "\x00"},
		{"non-ASCII", token[:41] + "é"},
		{"impossible length", "AAAAA"},
		// Two characters carry 12 bits for one byte; "AB" sets the 4 unused
		// ones, so it is not the canonical spelling of any byte.
		{"non-canonical", "AB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := spy.calls.Load()
			wantLink(t, l, tt.token, "")
			if n := spy.calls.Load() - before; n != 0 {
				t.Fatalf("%d store calls for %q, want none", n, tt.token)
			}
		})
	}
	// The longest well-formed token is looked up, and simply not found.
	before := spy.calls.Load()
	wantLink(t, l, strings.Repeat("A", 256), "")
	if spy.calls.Load() == before {
		t.Fatal("a well-formed 256-character token did not reach the store")
	}
	wantLink(t, l, token, "user-1")
}

// The stored records are part of the deployment's state: instances of
// different versions must agree on them, so their layout is pinned here.
func TestLinksStoreOnlyHashes(t *testing.T) {
	random := bytes.Repeat([]byte{0xfb}, 32)
	spy := &linkSpy{Store: challenge.NewMemoryStore()}
	l := newLinks(t, spy, challenge.LinkRandom(bytes.NewReader(random)))
	token := issueLink(t, l, "user-1")
	if want := base64.RawURLEncoding.EncodeToString(random); token != want {
		t.Fatalf("token = %q, want the reader's 32 bytes as base64url %q", token, want)
	}
	sum := sha256.Sum256([]byte(token))
	hash := sum[:]
	want := map[string]challenge.Record{
		"link:" + hex.EncodeToString(hash): {Hash: hash, Payload: []byte("user-1")},
		"link-user:user-1":                 {Hash: hash, Payload: hash},
	}
	if len(spy.puts) != len(want) {
		t.Fatalf("stored %d records, want %d", len(spy.puts), len(want))
	}
	for key, w := range want {
		got, ok := spy.puts[key]
		if !ok || !bytes.Equal(got.Hash, w.Hash) || !bytes.Equal(got.Payload, w.Payload) {
			t.Errorf("record %q = %+v (present %v), want %+v", key, got, ok, w)
		}
	}
	for key, rec := range spy.puts {
		if strings.Contains(key, token) || bytes.Contains(rec.Hash, []byte(token)) || bytes.Contains(rec.Payload, []byte(token)) {
			t.Errorf("record %q contains the token", key)
		}
	}
}

func TestLinksStoreFailuresFailClosed(t *testing.T) {
	spy := &linkSpy{Store: challenge.NewMemoryStore()}
	l := newLinks(t, spy)
	token := issueLink(t, l, "user-1")
	spy.err = errors.New("connection refused")
	ctx := context.Background()
	for _, op := range []struct {
		name string
		fn   func(context.Context, string) (string, error)
	}{{"Peek", l.Peek}, {"Consume", l.Consume}} {
		userID, err := op.fn(ctx, token)
		if userID != "" || !errors.Is(err, spy.err) || errors.Is(err, challenge.ErrInvalidLink) {
			t.Errorf("%s with a failing store = %q, %v; want no user and the store error", op.name, userID, err)
		}
	}
	if _, _, err := l.Issue(ctx, "user-1"); !errors.Is(err, spy.err) {
		t.Errorf("Issue error = %v, want the store error", err)
	}
}

type failingLinkReader struct{}

func (failingLinkReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestLinksIssueRandomFailure(t *testing.T) {
	l := newLinks(t, challenge.NewMemoryStore(), challenge.LinkRandom(failingLinkReader{}))
	if _, _, err := l.Issue(context.Background(), "user-1"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Issue error = %v, want the reader's error", err)
	}
}

func TestLinksInvalidArguments(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store challenge.Store
		opts  []challenge.LinkOption
	}{
		{"nil store", nil, nil},
		{"zero ttl", challenge.NewMemoryStore(), []challenge.LinkOption{challenge.LinkTTL(0)}},
		{"negative ttl", challenge.NewMemoryStore(), []challenge.LinkOption{challenge.LinkTTL(-time.Second)}},
	} {
		if _, err := challenge.NewLinks(tt.store, tt.opts...); err == nil {
			t.Errorf("NewLinks with %s: no error", tt.name)
		}
	}
	l := newLinks(t, challenge.NewMemoryStore())
	if _, _, err := l.Issue(context.Background(), ""); err == nil {
		t.Error("Issue with an empty user ID: no error")
	}
}
