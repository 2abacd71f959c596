package session_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/testclock"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/session"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
	start   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

func newManager(t testing.TB, st session.Store, secret []byte, opts ...session.Option) *session.Manager {
	t.Helper()
	opts = append([]session.Option{session.WithRandom(rand.NewChaCha8([32]byte{1}))}, opts...)
	m, err := session.NewManager(st, secret, opts...)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

// web is the client sessions are started for; otherClient is not it.
const (
	web         = "web"
	otherClient = "other"
)

var params = session.Params{
	UserID:    "6f1c5a52-3b8e-4c1e-9a51-0d2b3c4d5e6f",
	ClientID:  web,
	Scope:     "openid email",
	AMR:       []string{"pwd"},
	AuthTime:  start.Add(-time.Second),
	UserAgent: "Mozilla/5.0",
	IP:        "192.0.2.7",
}

// stores are the Store implementations manager tests run on: the rules
// live in the Manager, but they hold only if each store keeps its side.
var stores = []struct {
	name string
	new  func(t testing.TB) session.Store
}{
	{"memory", func(testing.TB) session.Store { return session.NewMemoryStore() }},
	{"postgres", func(t testing.TB) session.Store { return session.NewPostgresStore(testenv.Postgres(t)) }},
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// spyStore records the calls a Manager makes and every token hash the store
// accepted, so tests can see the whole family through the Store interface.
type spyStore struct {
	session.Store
	mu     sync.Mutex
	calls  []string
	issued [][]byte
}

func (s *spyStore) record(call string, issued []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	if issued != nil {
		s.issued = append(s.issued, issued)
	}
}

func (s *spyStore) takeCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *spyStore) CreateSession(ctx context.Context, ss session.Session, h []byte) error {
	err := s.Store.CreateSession(ctx, ss, h)
	s.record("CreateSession", ifNil(err, h))
	return err
}

func (s *spyStore) RotateRefreshToken(ctx context.Context, presented, next []byte, clientID string, now time.Time, idle time.Duration) (session.Session, error) {
	ss, err := s.Store.RotateRefreshToken(ctx, presented, next, clientID, now, idle)
	s.record("RotateRefreshToken", ifNil(err, next))
	return ss, err
}

func (s *spyStore) GetRefreshToken(ctx context.Context, h []byte) (session.RefreshToken, session.Session, error) {
	s.record("GetRefreshToken", nil)
	return s.Store.GetRefreshToken(ctx, h)
}

func (s *spyStore) GetSession(ctx context.Context, id string) (session.Session, error) {
	s.record("GetSession", nil)
	return s.Store.GetSession(ctx, id)
}

func (s *spyStore) ListSessions(ctx context.Context, userID string, now time.Time, idle time.Duration) ([]session.Session, error) {
	s.record("ListSessions", nil)
	return s.Store.ListSessions(ctx, userID, now, idle)
}

func (s *spyStore) RevokeSession(ctx context.Context, id, reason string, now time.Time) error {
	s.record("RevokeSession", nil)
	return s.Store.RevokeSession(ctx, id, reason, now)
}

func (s *spyStore) DeleteExpired(ctx context.Context, cutoff time.Time, idle time.Duration, limit int) (int, error) {
	s.record("DeleteExpired", nil)
	return s.Store.DeleteExpired(ctx, cutoff, idle, limit)
}

func ifNil(err error, h []byte) []byte {
	if err != nil {
		return nil
	}
	return h
}

// liveTokens counts the family's tokens that are not rotated.
func (s *spyStore) liveTokens(t *testing.T, sessionID string) (live [][]byte) {
	t.Helper()
	s.mu.Lock()
	issued := slices.Clone(s.issued)
	s.mu.Unlock()
	for _, h := range issued {
		rec, _, err := s.Store.GetRefreshToken(t.Context(), h)
		if err != nil {
			t.Fatalf("GetRefreshToken of an issued token: %v", err)
		}
		if rec.SessionID == sessionID && rec.RotatedAt.IsZero() {
			live = append(live, h)
		}
	}
	return live
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestNewManagerValidates(t *testing.T) {
	st := session.NewMemoryStore()
	tests := []struct {
		name   string
		secret []byte
		opts   []session.Option
	}{
		{"short secret", secretA[:31], nil},
		{"zero lifetime", secretA, []session.Option{session.WithLifetime(0)}},
		{"negative grace", secretA, []session.Option{session.WithReuseGrace(-time.Second)}},
		{"negative idle timeout", secretA, []session.Option{session.WithIdleTimeout(-time.Second)}},
		{"nil logger", secretA, []session.Option{session.WithLogger(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := session.NewManager(st, tc.secret, tc.opts...); err == nil {
				t.Errorf("NewManager = %v, nil; want an error", m)
			}
		})
	}
}

func TestManagerLogValueHidesSecret(t *testing.T) {
	var buf bytes.Buffer
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithIdleTimeout(time.Hour))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sessions", "manager", m)
	if out := buf.String(); strings.Contains(out, string(secretA)) || !strings.Contains(out, "manager.reuse_grace=10s") ||
		!strings.Contains(out, "manager.idle_timeout=1h0m0s") {
		t.Errorf("log line %q leaks the secret or lacks the configuration", out)
	}
}

func TestStart(t *testing.T) {
	ctx := t.Context()
	clk := testclock.New(start.Add(123456789)) // sub-microsecond part must go
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithClock(clk.Now), session.WithLifetime(time.Hour))

	p := params
	p.AMR = slices.Clone(params.AMR)
	s, token, err := m.Start(ctx, p)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p.AMR[0] = "changed"
	if !tokenPattern.MatchString(token) {
		t.Errorf("token %q is not 32 bytes of unpadded base64url", token)
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		t.Errorf("token does not decode: %v", err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(s.ID) {
		t.Errorf("session id %q is not a v4 UUID", s.ID)
	}
	now := start.Add(123456 * time.Microsecond)
	want := session.Session{
		ID: s.ID, UserID: params.UserID, ClientID: "web", Scope: "openid email", AMR: []string{"pwd"},
		AuthTime: params.AuthTime, UserAgent: "Mozilla/5.0", IP: "192.0.2.7",
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	checkSession(t, "Start", s, want)
	got, err := m.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSession(t, "Get", got, want)

	_, other, err := m.Start(ctx, params)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if other == token {
		t.Error("two sessions got the same token")
	}
}

func checkSession(t *testing.T, what string, got, want session.Session) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.ClientID != want.ClientID || got.Scope != want.Scope ||
		!slices.Equal(got.AMR, want.AMR) || !got.AuthTime.Equal(want.AuthTime) || got.Generation != want.Generation ||
		got.UserAgent != want.UserAgent || got.IP != want.IP || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.RevokedAt.Equal(want.RevokedAt) || got.RevokedReason != want.RevokedReason {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

type op int

const (
	refresh op = iota
	logout
	revokeSession // by id, as an admin or "sign out other devices" would
)

// fresh as step.want: a token never issued before, appended to the list.
const fresh = -1

type step struct {
	advance time.Duration // clock moves before the step
	op      op
	token   int    // index into the tokens issued so far (0: from Start)
	client  string // refresh: the presenting client; "" for the session's
	want    int    // refresh: index of the token expected back, or fresh
	wantGen int
	wantErr error
}

func TestRefresh(t *testing.T) {
	const grace = 10 * time.Second
	tests := []struct {
		name       string
		opts       []session.Option
		steps      []step
		wantReason string // of the session at the end; "" while not revoked
	}{
		{
			name: "chain",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Hour, token: 1, want: fresh, wantGen: 2},
				{advance: time.Hour, token: 2, want: fresh, wantGen: 3},
			},
		},
		{
			name: "replay in the window returns the live token without rotating",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: 5 * time.Second, token: 0, want: 1, wantGen: 1},
				{token: 1, want: fresh, wantGen: 2}, // 1 was still live
			},
		},
		{
			name: "replay at the window's last instant",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: grace, token: 0, want: 1, wantGen: 1},
			},
		},
		{
			name: "replay in the window after the successor was rotated too",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Second, token: 1, want: fresh, wantGen: 2},
				{advance: time.Second, token: 0, want: 2, wantGen: 2},
				{token: 1, want: 2, wantGen: 2},
				{token: 2, want: fresh, wantGen: 3},
			},
		},
		{
			name: "replay after the window revokes the family",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: grace + time.Microsecond, token: 0, wantErr: session.ErrReused},
				{token: 1, wantErr: session.ErrInvalidToken},
				{token: 0, wantErr: session.ErrInvalidToken},
			},
			wantReason: "reuse",
		},
		{
			name: "an old token is judged by its own rotation, not the last one",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Minute, token: 1, want: fresh, wantGen: 2},
				{advance: time.Second, token: 0, wantErr: session.ErrReused},
				{token: 2, wantErr: session.ErrInvalidToken},
			},
			wantReason: "reuse",
		},
		{
			name: "grace 0 takes any replay for reuse",
			opts: []session.Option{session.WithReuseGrace(0)},
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{token: 0, wantErr: session.ErrReused},
				{token: 1, wantErr: session.ErrInvalidToken},
			},
			wantReason: "reuse",
		},
		{
			name: "lifetime counts from the start, not the last refresh",
			opts: []session.Option{session.WithLifetime(time.Hour)},
			steps: []step{
				{advance: 59 * time.Minute, token: 0, want: fresh, wantGen: 1},
				{advance: time.Minute, token: 1, wantErr: session.ErrInvalidToken},
			},
		},
		{
			name: "replay of an expired session is not reuse",
			opts: []session.Option{session.WithLifetime(time.Hour)},
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: 2 * time.Hour, token: 0, wantErr: session.ErrInvalidToken},
			},
		},
		{
			name: "logout, idempotent",
			steps: []step{
				{op: logout, token: 0},
				{token: 0, wantErr: session.ErrInvalidToken},
				{op: logout, token: 0},
			},
			wantReason: "logout",
		},
		{
			name: "logout with a rotated token ends the family",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Hour, op: logout, token: 0},
				{token: 1, wantErr: session.ErrInvalidToken},
			},
			wantReason: "logout",
		},
		{
			name: "replay after logout, in and after the window, keeps the reason",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{op: logout, token: 1},
				{advance: time.Second, token: 0, wantErr: session.ErrInvalidToken},
				{advance: time.Minute, token: 0, wantErr: session.ErrInvalidToken},
			},
			wantReason: "logout",
		},
		{
			name: "revoked by id",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{op: revokeSession},
				{token: 1, wantErr: session.ErrInvalidToken},
				{advance: time.Second, token: 0, wantErr: session.ErrInvalidToken},
			},
			wantReason: "revoked",
		},
		{
			// Each refused presentation is followed, past the grace
			// window, by its owner's: a consumed token would be reuse.
			name: "another client's live token is refused and stays live",
			steps: []step{
				{token: 0, client: otherClient, wantErr: session.ErrInvalidToken},
				{advance: time.Minute, token: 0, want: fresh, wantGen: 1},
				{token: 1, client: otherClient, wantErr: session.ErrInvalidToken},
				{advance: time.Minute, token: 1, want: fresh, wantGen: 2},
			},
		},
		{
			name: "another client's retry in the window is reuse",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Second, token: 0, client: otherClient, wantErr: session.ErrReused},
				{token: 1, wantErr: session.ErrInvalidToken},
				{token: 0, wantErr: session.ErrInvalidToken},
			},
			wantReason: "reuse",
		},
		{
			name: "another client's rotated token after the window is reuse",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: time.Minute, token: 0, client: otherClient, wantErr: session.ErrReused},
				{token: 1, wantErr: session.ErrInvalidToken},
			},
			wantReason: "reuse",
		},
		{
			name: "another client's token of a revoked family keeps the reason",
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{op: logout, token: 1},
				{advance: time.Second, token: 0, client: otherClient, wantErr: session.ErrInvalidToken},
				{token: 1, client: otherClient, wantErr: session.ErrInvalidToken},
			},
			wantReason: "logout",
		},
		{
			name: "idle timeout counts from the last refresh",
			opts: []session.Option{session.WithIdleTimeout(time.Hour)},
			steps: []step{
				{advance: 59 * time.Minute, token: 0, want: fresh, wantGen: 1},
				{advance: 59 * time.Minute, token: 1, want: fresh, wantGen: 2},
				{advance: time.Hour, token: 2, wantErr: session.ErrInvalidToken},
				{token: 1, wantErr: session.ErrInvalidToken},
			},
		},
		{
			name: "replay of an idle session is not reuse",
			opts: []session.Option{session.WithIdleTimeout(time.Hour)},
			steps: []step{
				{token: 0, want: fresh, wantGen: 1},
				{advance: 2 * time.Hour, token: 0, wantErr: session.ErrInvalidToken},
				{token: 1, wantErr: session.ErrInvalidToken},
			},
		},
		{
			name: "lifetime ends a session however often it is used",
			opts: []session.Option{session.WithIdleTimeout(time.Hour), session.WithLifetime(2 * time.Hour)},
			steps: []step{
				{advance: 50 * time.Minute, token: 0, want: fresh, wantGen: 1},
				{advance: 50 * time.Minute, token: 1, want: fresh, wantGen: 2},
				{advance: 20 * time.Minute, token: 2, wantErr: session.ErrInvalidToken},
			},
		},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			// One store for every case spares a database each; the cases
			// draw different ids and tokens, so their sessions stay apart.
			st := sc.new(t)
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					clk := testclock.New(start)
					opts := append([]session.Option{
						session.WithClock(clk.Now), session.WithRandom(rand.NewChaCha8([32]byte{2, byte(i)})),
					}, tc.opts...)
					runSteps(t, newManager(t, st, secretA, opts...), clk, tc.steps, tc.wantReason)
				})
			}
		})
	}
}

// runSteps runs steps on a session m starts, then checks how it ended.
func runSteps(t *testing.T, m *session.Manager, clk *testclock.Clock, steps []step, wantReason string) {
	t.Helper()
	ctx := t.Context()
	s, t0, err := m.Start(ctx, params)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tokens := []string{t0}
	for i, st := range steps {
		clk.Advance(st.advance)
		switch st.op {
		case logout:
			if err := m.Revoke(ctx, tokens[st.token]); err != nil {
				t.Fatalf("step %d: Revoke: %v", i, err)
			}
		case revokeSession:
			if err := m.RevokeSession(ctx, s.ID, "revoked"); err != nil {
				t.Fatalf("step %d: RevokeSession: %v", i, err)
			}
		case refresh:
			client := cmp.Or(st.client, web)
			got, next, err := m.Refresh(ctx, tokens[st.token], client)
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d: Refresh(token %d) by %s err = %v, want %v", i, st.token, client, err, st.wantErr)
				}
				if next != "" {
					t.Fatalf("step %d: Refresh(token %d) by %s failed but returned %s", i, st.token, client, which(tokens, next))
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: Refresh(token %d): %v", i, st.token, err)
			}
			if got.ID != s.ID || got.Generation != st.wantGen {
				t.Errorf("step %d: session %s generation %d, want %s generation %d", i, got.ID, got.Generation, s.ID, st.wantGen)
			}
			if st.want == fresh {
				if slices.Contains(tokens, next) || !tokenPattern.MatchString(next) {
					t.Fatalf("step %d: Refresh returned a reused or malformed token", i)
				}
				tokens = append(tokens, next)
			} else if next != tokens[st.want] {
				t.Fatalf("step %d: Refresh(token %d) returned %s, want token %d", i, st.token, which(tokens, next), st.want)
			}
		}
	}
	got, err := m.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.RevokedReason != wantReason || got.RevokedAt.IsZero() != (wantReason == "") {
		t.Errorf("session revoked at %v reason %q, want reason %q", got.RevokedAt, got.RevokedReason, wantReason)
	}
}

// which names a token by its index, never printing the secret itself.
func which(tokens []string, tok string) string {
	if i := slices.Index(tokens, tok); i >= 0 {
		return "token " + strconv.Itoa(i)
	}
	return "an unknown token"
}

func TestRefreshRejectsWithoutStoreCalls(t *testing.T) {
	spy := &spyStore{Store: session.NewMemoryStore()}
	m := newManager(t, spy, secretA)
	for name, tok := range map[string]string{"empty": "", "over 512 bytes": strings.Repeat("a", 513)} {
		if _, _, err := m.Refresh(t.Context(), tok, web); !errors.Is(err, session.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
		if err := m.Revoke(t.Context(), tok); err != nil {
			t.Errorf("%s: Revoke: %v", name, err)
		}
	}
	if calls := spy.takeCalls(); len(calls) != 0 {
		t.Errorf("store calls %v, want none", calls)
	}
}

func TestRefreshUnknownToken(t *testing.T) {
	spy := &spyStore{Store: session.NewMemoryStore()}
	m := newManager(t, spy, secretA)
	unknown := strings.Repeat("A", 43)
	if _, _, err := m.Refresh(t.Context(), unknown, web); !errors.Is(err, session.ErrInvalidToken) {
		t.Errorf("Refresh: err = %v, want ErrInvalidToken", err)
	}
	if err := m.Revoke(t.Context(), unknown); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	want := []string{"RotateRefreshToken", "GetRefreshToken", "GetRefreshToken"}
	if calls := spy.takeCalls(); !slices.Equal(calls, want) {
		t.Errorf("store calls %v, want %v", calls, want)
	}
}

func TestRefreshHotPathIsOneStoreCall(t *testing.T) {
	spy := &spyStore{Store: session.NewMemoryStore()}
	m := newManager(t, spy, secretA)
	_, tok, err := m.Start(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	spy.takeCalls()
	if _, _, err := m.Refresh(t.Context(), tok, web); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if calls := spy.takeCalls(); !slices.Equal(calls, []string{"RotateRefreshToken"}) {
		t.Errorf("store calls %v, want [RotateRefreshToken]", calls)
	}
}

// A live token presented by another client is refused inside the store's
// one statement: its record and its session stay as they were, and its own
// client then rotates it as if nothing happened.
func TestRefreshByAnotherClientTouchesNothing(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			spy := &spyStore{Store: sc.new(t)}
			clk := testclock.New(start)
			m := newManager(t, spy, secretA, session.WithClock(clk.Now))
			s, t0, err := m.Start(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Minute)
			spy.takeCalls()
			if _, next, err := m.Refresh(ctx, t0, otherClient); !errors.Is(err, session.ErrInvalidToken) || next != "" {
				t.Fatalf("Refresh by another client: err = %v, token returned: %v; want ErrInvalidToken and none", err, next != "")
			}
			if calls, want := spy.takeCalls(), []string{"RotateRefreshToken", "GetRefreshToken"}; !slices.Equal(calls, want) {
				t.Errorf("store calls %v, want %v", calls, want)
			}
			rec, got, err := spy.GetRefreshToken(ctx, tokenHash(t0))
			if err != nil {
				t.Fatal(err)
			}
			if !rec.RotatedAt.IsZero() {
				t.Errorf("token rotated at %v by another client's refresh", rec.RotatedAt)
			}
			checkSession(t, "session after another client's refresh", got, s)
			if live := spy.liveTokens(t, s.ID); len(live) != 1 || !bytes.Equal(live[0], tokenHash(t0)) {
				t.Errorf("family has %d live tokens, want exactly the first", len(live))
			}

			got, _, err = m.Refresh(ctx, t0, web)
			if err != nil || got.Generation != 1 || !got.LastUsedAt.Equal(start.Add(time.Minute)) {
				t.Errorf("Refresh by its client: generation %d, last used %v, err %v; want 1, start+1m, nil", got.Generation, got.LastUsedAt, err)
			}
		})
	}
}

// After a secret change the live token of a replayed family cannot be
// named; that is refused, but is no evidence of theft.
func TestRefreshReplayAfterSecretChange(t *testing.T) {
	ctx := t.Context()
	st := session.NewMemoryStore()
	clk := testclock.New(start)
	oldM := newManager(t, st, secretA, session.WithClock(clk.Now))
	newM := newManager(t, st, secretB, session.WithClock(clk.Now))

	_, t0, err := oldM.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	_, t1, err := oldM.Refresh(ctx, t0, web)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, _, err := newM.Refresh(ctx, t0, web); !errors.Is(err, session.ErrInvalidToken) {
		t.Errorf("replay under the new secret: err = %v, want ErrInvalidToken", err)
	}
	if got, _, err := newM.Refresh(ctx, t1, web); err != nil || got.Generation != 2 || !got.RevokedAt.IsZero() {
		t.Errorf("live token under the new secret: generation %d revoked %v err %v; want 2, live, nil", got.Generation, got.RevokedAt, err)
	}
}

func TestRefreshReplayTooFarBehind(t *testing.T) {
	ctx := t.Context()
	clk := testclock.New(start)
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithClock(clk.Now))
	s, t0, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{t0}
	for i := range 17 {
		_, next, err := m.Refresh(ctx, tokens[i], web)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, next)
	}
	if _, _, err := m.Refresh(ctx, tokens[0], web); !errors.Is(err, session.ErrInvalidToken) {
		t.Errorf("replay 17 generations behind: err = %v, want ErrInvalidToken", err)
	}
	if _, live, err := m.Refresh(ctx, tokens[1], web); err != nil || live != tokens[17] {
		t.Errorf("replay 16 generations behind: err = %v, got the live token: %v", err, live == tokens[17])
	}
	if got, _ := m.Get(ctx, s.ID); !got.RevokedAt.IsZero() {
		t.Errorf("family revoked (%s); a replay too far behind must not revoke", got.RevokedReason)
	}
}

// Many requests presenting one token at once, as a client retrying on a
// flaky network does: all get the same successor, and the family keeps
// exactly one live token.
func TestRefreshConcurrent(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := t.Context()
			spy := &spyStore{Store: sc.new(t)}
			m := newManager(t, spy, secretA) // real clock, default grace
			s, t0, err := m.Start(ctx, params)
			if err != nil {
				t.Fatal(err)
			}

			const n = 50
			type result struct {
				s     session.Session
				token string
				err   error
			}
			results := make([]result, n)
			var (
				wg    sync.WaitGroup
				begin = make(chan struct{})
			)
			for i := range n {
				wg.Go(func() {
					<-begin
					r := &results[i]
					r.s, r.token, r.err = m.Refresh(ctx, t0, web)
				})
			}
			close(begin)
			wg.Wait()

			var successor string
			for i, r := range results {
				if r.err != nil {
					t.Errorf("refresh %d: %v", i, r.err)
					continue
				}
				if successor == "" {
					successor = r.token
				}
				if r.token != successor || r.token == t0 {
					t.Errorf("refresh %d returned a different token", i)
				}
				if r.s.ID != s.ID || r.s.Generation != 1 {
					t.Errorf("refresh %d: session %s generation %d, want %s generation 1", i, r.s.ID, r.s.Generation, s.ID)
				}
			}
			var rotations int
			for _, c := range spy.takeCalls() {
				if c == "RotateRefreshToken" {
					rotations++
				}
			}
			if rotations != n {
				t.Errorf("%d rotation attempts, want %d", rotations, n)
			}
			live := spy.liveTokens(t, s.ID)
			if len(live) != 1 || !slices.Equal(live[0], tokenHash(successor)) {
				t.Fatalf("family has %d live tokens, want exactly the successor", len(live))
			}
			if got, _, err := m.Refresh(ctx, successor, web); err != nil || got.Generation != 2 {
				t.Errorf("refresh of the successor: generation %d, err %v; want 2, nil", got.Generation, err)
			}
		})
	}
}

func TestListRevokeDelete(t *testing.T) {
	ctx := t.Context()
	clk := testclock.New(start)
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithClock(clk.Now), session.WithLifetime(time.Hour))
	older, _, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	newer, _, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx, params.UserID)
	if err != nil || len(list) != 2 || list[0].ID != newer.ID || list[1].ID != older.ID {
		t.Fatalf("List = %v, %v; want [newer older]", list, err)
	}

	if err := m.RevokeSession(ctx, older.ID, "revoked"); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if err := m.RevokeSession(ctx, "6f1c5a52-0000-4000-8000-000000000000", "revoked"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("RevokeSession(unknown) = %v, want ErrNotFound", err)
	}
	if list, err := m.List(ctx, params.UserID); err != nil || len(list) != 1 || list[0].ID != newer.ID {
		t.Errorf("List after revocation = %v, %v; want [newer]", list, err)
	}

	// older was revoked at start+1m; newer expires at start+1h+1m.
	clk.Advance(30 * time.Minute)
	if n, err := m.DeleteExpired(ctx, 30*time.Minute); err != nil || n != 0 {
		t.Errorf("DeleteExpired at the revocation's retention edge = %d, %v; want 0", n, err)
	}
	clk.Advance(time.Microsecond)
	if n, err := m.DeleteExpired(ctx, 30*time.Minute); err != nil || n != 1 {
		t.Errorf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if _, err := m.Get(ctx, older.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := m.Get(ctx, newer.ID); err != nil {
		t.Errorf("Get(kept): %v", err)
	}
}

func TestListHidesIdleSessions(t *testing.T) {
	ctx := t.Context()
	clk := testclock.New(start)
	m := newManager(t, session.NewMemoryStore(), secretA, session.WithClock(clk.Now), session.WithIdleTimeout(time.Hour))
	idle, _, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	used, tok, err := m.Start(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Minute)
	if _, _, err := m.Refresh(ctx, tok, web); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // idle was last used an hour ago, used a minute ago
	list, err := m.List(ctx, params.UserID)
	if err != nil || len(list) != 1 || list[0].ID != used.ID {
		t.Errorf("List = %v, %v; want only the session in use", list, err)
	}
	// Idle is not revoked: it is still there to look at until clean-up.
	if got, err := m.Get(ctx, idle.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("Get(idle session) = revoked at %v, %v; want not revoked, nil", got.RevokedAt, err)
	}
}

// BenchmarkRefresh measures the hot path: one rotation per refresh, each
// presenting the token the previous one returned.
func BenchmarkRefresh(b *testing.B) {
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			m := newManager(b, sc.new(b), secretA)
			_, tok, err := m.Start(b.Context(), params)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, tok, err = m.Refresh(b.Context(), tok, web); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
