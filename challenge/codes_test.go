package challenge_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/testclock"
)

var testKey = bytes.Repeat([]byte("k"), 32)

func newClock() *testclock.Clock { return testclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) }

// spyStore counts the calls that reach a store and can make them fail.
type spyStore struct {
	challenge.Store
	calls atomic.Int32
	err   error
	put   challenge.Record
}

func (s *spyStore) Put(ctx context.Context, key string, rec challenge.Record, ttl time.Duration) error {
	s.calls.Add(1)
	s.put = rec
	if s.err != nil {
		return s.err
	}
	return s.Store.Put(ctx, key, rec, ttl)
}

func (s *spyStore) Attempt(ctx context.Context, key string) (challenge.Record, error) {
	s.calls.Add(1)
	if s.err != nil {
		return challenge.Record{}, s.err
	}
	return s.Store.Attempt(ctx, key)
}

func (s *spyStore) Consume(ctx context.Context, key string, hash []byte) (bool, error) {
	s.calls.Add(1)
	if s.err != nil {
		return false, s.err
	}
	return s.Store.Consume(ctx, key, hash)
}

func newCodes(t *testing.T, store challenge.Store, opts ...challenge.Option) *challenge.Codes {
	t.Helper()
	c, err := challenge.NewCodes(store, testKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t *testing.T, c *challenge.Codes, p challenge.Purpose, subject string, payload []byte) string {
	t.Helper()
	code, _, err := c.Issue(context.Background(), p, subject, payload)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return code
}

// wrong returns a well-formed code that differs from code.
func wrong(code string) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

func TestIssueVerify(t *testing.T) {
	c := newCodes(t, challenge.NewMemoryStore())
	ctx := context.Background()
	code, ttl, err := c.Issue(ctx, challenge.PurposeSignup, "alice@example.com", []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6 || ttl != 5*time.Minute {
		t.Fatalf("Issue = %q, %v; want six digits, 5m", code, ttl)
	}
	payload, err := c.Verify(ctx, challenge.PurposeSignup, "alice@example.com", code)
	if err != nil || string(payload) != "user-1" {
		t.Fatalf("Verify = %q, %v; want user-1", payload, err)
	}
	if _, err := c.Verify(ctx, challenge.PurposeSignup, "alice@example.com", code); !errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("second Verify error = %v, want ErrInvalidCode: a code is single-use", err)
	}
}

// The stored hash is part of the deployment's state: instances of different
// versions must agree on it, so its construction is pinned here.
func TestIssueStoresKeyedHash(t *testing.T) {
	spy := &spyStore{Store: challenge.NewMemoryStore()}
	code := issue(t, newCodes(t, spy), challenge.PurposeLogin, "+15550100", nil)
	m := hmac.New(sha256.New, testKey)
	m.Write([]byte("login\x00+15550100\x00" + code))
	if !bytes.Equal(spy.put.Hash, m.Sum(nil)) {
		t.Fatalf("stored hash %x, want HMAC-SHA256(key, purpose NUL subject NUL code)", spy.put.Hash)
	}
}

func TestVerifyRejectsMalformedWithoutAttempt(t *testing.T) {
	for _, tt := range []struct{ name, code string }{
		{"empty", ""},
		{"five digits", "12345"},
		{"seven digits", "1234567"},
		{"letters", "abcdef"},
		{"hex", "12345a"},
		{"full-width digits", "１２３４５６"},
		{"arabic-indic digits", "١٢٣٤٥٦"},
		{"inner space", "123 45"},
		{"leading space", " 12345"},
		{"trailing newline", "12345\n"},
		{"sign", "+12345"},
		{"NUL", "12345\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spy := &spyStore{Store: challenge.NewMemoryStore()}
			c := newCodes(t, spy, challenge.CodeMaxAttempts(1))
			code := issue(t, c, challenge.PurposeSignup, "bob", nil)
			before := spy.calls.Load()
			if _, err := c.Verify(context.Background(), challenge.PurposeSignup, "bob", tt.code); !errors.Is(err, challenge.ErrInvalidCode) {
				t.Fatalf("Verify(%q) error = %v, want ErrInvalidCode", tt.code, err)
			}
			if n := spy.calls.Load() - before; n != 0 {
				t.Fatalf("Verify(%q) made %d store calls, want none", tt.code, n)
			}
			// With a single attempt allowed, the right code still works
			// only if the malformed one was not counted.
			if _, err := c.Verify(context.Background(), challenge.PurposeSignup, "bob", code); err != nil {
				t.Fatalf("Verify(right code) after a malformed one: %v", err)
			}
		})
	}
}

func TestVerifyAttemptLimit(t *testing.T) {
	for _, tt := range []struct {
		wrongTries int
		want       error // for the right code afterwards
	}{
		{0, nil},
		{1, nil},
		{4, nil},
		{5, challenge.ErrTooManyAttempts}, // the sixth attempt fails even with the right code
		{7, challenge.ErrTooManyAttempts},
	} {
		c := newCodes(t, challenge.NewMemoryStore())
		ctx := context.Background()
		code := issue(t, c, challenge.PurposeLogin, "carol", []byte("p"))
		for i := 1; i <= tt.wrongTries; i++ {
			want := challenge.ErrInvalidCode
			if i > 5 {
				want = challenge.ErrTooManyAttempts
			}
			if _, err := c.Verify(ctx, challenge.PurposeLogin, "carol", wrong(code)); !errors.Is(err, want) {
				t.Fatalf("%d wrong tries: wrong try %d error = %v, want %v", tt.wrongTries, i, err, want)
			}
		}
		payload, err := c.Verify(ctx, challenge.PurposeLogin, "carol", code)
		if !errors.Is(err, tt.want) || (tt.want == nil && string(payload) != "p") {
			t.Fatalf("%d wrong tries: right code = %q, %v; want error %v", tt.wrongTries, payload, err, tt.want)
		}
	}
}

func TestIssueReplacesPreviousCode(t *testing.T) {
	c := newCodes(t, challenge.NewMemoryStore())
	ctx := context.Background()
	old := issue(t, c, challenge.PurposeSignup, "dave", []byte("old"))
	for range 4 {
		if _, err := c.Verify(ctx, challenge.PurposeSignup, "dave", wrong(old)); !errors.Is(err, challenge.ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	code := issue(t, c, challenge.PurposeSignup, "dave", []byte("new"))
	for code == old { // one chance in a million
		code = issue(t, c, challenge.PurposeSignup, "dave", []byte("new"))
	}
	if _, err := c.Verify(ctx, challenge.PurposeSignup, "dave", old); !errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("Verify(old code) error = %v, want ErrInvalidCode", err)
	}
	// The replacement starts with fresh attempts: three more wrong tries
	// (five in all against "dave") still leave room for the right one.
	for range 3 {
		if _, err := c.Verify(ctx, challenge.PurposeSignup, "dave", wrong(code)); !errors.Is(err, challenge.ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if payload, err := c.Verify(ctx, challenge.PurposeSignup, "dave", code); err != nil || string(payload) != "new" {
		t.Fatalf("Verify(new code) = %q, %v; want new", payload, err)
	}
}

func TestVerifyExpiry(t *testing.T) {
	for _, tt := range []struct {
		name    string
		opts    []challenge.Option
		elapsed time.Duration
		want    error
	}{
		{"fresh", nil, 0, nil},
		{"just before default ttl", nil, 5*time.Minute - time.Nanosecond, nil},
		{"at default ttl", nil, 5 * time.Minute, challenge.ErrInvalidCode},
		{"long after", nil, time.Hour, challenge.ErrInvalidCode},
		{"within custom ttl", []challenge.Option{challenge.CodeTTL(10 * time.Minute)}, 9 * time.Minute, nil},
		{"past custom ttl", []challenge.Option{challenge.CodeTTL(time.Minute)}, 61 * time.Second, challenge.ErrInvalidCode},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			c := newCodes(t, challenge.NewMemoryStore(challenge.MemoryClock(clk.Now)), tt.opts...)
			code := issue(t, c, challenge.PurposeSignup, "erin", nil)
			clk.Advance(tt.elapsed)
			if _, err := c.Verify(context.Background(), challenge.PurposeSignup, "erin", code); !errors.Is(err, tt.want) {
				t.Fatalf("Verify after %v error = %v, want %v", tt.elapsed, err, tt.want)
			}
		})
	}
}

func TestCodeIsBoundToPurposeAndSubject(t *testing.T) {
	c := newCodes(t, challenge.NewMemoryStore())
	ctx := context.Background()
	code := issue(t, c, challenge.PurposeSignup, "frank@example.com", nil)
	for _, tt := range []struct {
		purpose challenge.Purpose
		subject string
	}{
		{challenge.PurposeLogin, "frank@example.com"},
		{challenge.PurposeSignup, "Frank@example.com"},
		{challenge.PurposeSignup, "frank@example.co"},
		{challenge.PurposeSignup, ""},
	} {
		if _, err := c.Verify(ctx, tt.purpose, tt.subject, code); !errors.Is(err, challenge.ErrInvalidCode) {
			t.Errorf("Verify(%s, %q) error = %v, want ErrInvalidCode", tt.purpose, tt.subject, err)
		}
	}
	if _, err := c.Verify(ctx, challenge.PurposeSignup, "frank@example.com", code); err != nil {
		t.Fatalf("Verify for the right purpose and subject: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	c := newCodes(t, challenge.NewMemoryStore())
	ctx := context.Background()
	code := issue(t, c, challenge.PurposeLogin, "grace", nil)
	if err := c.Revoke(ctx, challenge.PurposeLogin, "grace"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx, challenge.PurposeLogin, "grace", code); !errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("Verify after Revoke error = %v, want ErrInvalidCode", err)
	}
}

func TestVerifyConcurrentSingleUse(t *testing.T) {
	for _, tt := range []struct {
		name     string
		newStore func(t *testing.T) challenge.Store
	}{
		{"memory", func(*testing.T) challenge.Store { return challenge.NewMemoryStore() }},
		{"redis", newRedisStore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20
			c := newCodes(t, tt.newStore(t))
			code := issue(t, c, challenge.PurposeSignup, "heidi", []byte("p"))
			var (
				wins  atomic.Int32
				wg    sync.WaitGroup
				start = make(chan struct{})
			)
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					<-start
					_, err := c.Verify(context.Background(), challenge.PurposeSignup, "heidi", code)
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, challenge.ErrInvalidCode) && !errors.Is(err, challenge.ErrTooManyAttempts):
						errs <- err
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Verify: %v", err)
			}
			if got := wins.Load(); got != 1 {
				t.Fatalf("%d of %d concurrent verifications succeeded, want exactly 1", got, n)
			}
		})
	}
}

func TestStoreFailuresFailClosed(t *testing.T) {
	spy := &spyStore{Store: challenge.NewMemoryStore()}
	c := newCodes(t, spy)
	ctx := context.Background()
	code := issue(t, c, challenge.PurposeSignup, "ivan", []byte("p"))
	spy.err = errors.New("connection refused")

	payload, err := c.Verify(ctx, challenge.PurposeSignup, "ivan", code)
	if err == nil || payload != nil || errors.Is(err, challenge.ErrInvalidCode) || errors.Is(err, challenge.ErrTooManyAttempts) {
		t.Fatalf("Verify with a failing store = %q, %v; want no payload and a store error", payload, err)
	}
	if !errors.Is(err, spy.err) {
		t.Fatalf("Verify error %v does not wrap the store error", err)
	}
	if _, _, err := c.Issue(ctx, challenge.PurposeSignup, "ivan", nil); !errors.Is(err, spy.err) {
		t.Fatalf("Issue error = %v, want the store error", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestIssueRandomFailure(t *testing.T) {
	c := newCodes(t, challenge.NewMemoryStore(), challenge.CodeRandom(failingReader{}))
	if _, _, err := c.Issue(context.Background(), challenge.PurposeSignup, "judy", nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Issue error = %v, want the reader's error", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	store := challenge.NewMemoryStore()
	for _, tt := range []struct {
		name  string
		store challenge.Store
		key   []byte
		opts  []challenge.Option
	}{
		{"nil store", nil, testKey, nil},
		{"short key", store, testKey[:31], nil},
		{"zero ttl", store, testKey, []challenge.Option{challenge.CodeTTL(0)}},
		{"zero attempts", store, testKey, []challenge.Option{challenge.CodeMaxAttempts(0)}},
	} {
		if _, err := challenge.NewCodes(tt.store, tt.key, tt.opts...); err == nil {
			t.Errorf("NewCodes with %s: no error", tt.name)
		}
	}

	c := newCodes(t, store)
	ctx := context.Background()
	for _, p := range []challenge.Purpose{"", "sign:up", "signup\x00", "Signup"} {
		if _, _, err := c.Issue(ctx, p, "kim", nil); err == nil {
			t.Errorf("Issue with purpose %q: no error", p)
		}
		if _, err := c.Verify(ctx, p, "kim", "123456"); err == nil || errors.Is(err, challenge.ErrInvalidCode) {
			t.Errorf("Verify with purpose %q: error = %v, want a programming error", p, err)
		}
	}
	if _, _, err := c.Issue(ctx, challenge.PurposeSignup, "", nil); err == nil {
		t.Error("Issue with an empty subject: no error")
	}
}
