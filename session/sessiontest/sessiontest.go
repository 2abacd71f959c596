// Package sessiontest is the conformance suite every session.Store passes,
// in the manner of Dex's storage/conformance.
package sessiontest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/random"
	"github.com/authd/authd/session"
)

// base is whole microseconds, the precision PostgreSQL keeps.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// client is the client every session of the suite is started for.
const client = "web"

// Run runs the suite; newStore must return an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, st session.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"Rotate", testRotate},
		{"RotateRefused", testRotateRefused},
		{"RotateNextConflict", testRotateNextConflict},
		{"RotateParallel", testRotateParallel},
		{"GetRefreshToken", testGetRefreshToken},
		{"ListSessions", testListSessions},
		{"RevokeSession", testRevokeSession},
		{"DeleteExpired", testDeleteExpired},
		{"DeleteExpiredLimit", testDeleteExpiredLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func uuid(t *testing.T) string {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// hash stands in for the SHA-256 of a token; distinct labels give distinct
// hashes.
func hash(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

func newSession(t *testing.T, userID string, created time.Time) session.Session {
	t.Helper()
	return session.Session{
		ID:         uuid(t),
		UserID:     userID,
		ClientID:   client,
		Scope:      "openid email",
		AMR:        []string{"pwd", "mfa"},
		AuthTime:   created.Add(-time.Minute),
		UserAgent:  "Mozilla/5.0",
		IP:         "192.0.2.7",
		CreatedAt:  created,
		LastUsedAt: created,
		ExpiresAt:  created.Add(7 * 24 * time.Hour),
	}
}

func create(t *testing.T, st session.Store, s session.Session, tokenHash []byte) {
	t.Helper()
	if err := st.CreateSession(t.Context(), s, tokenHash); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

// rotate rotates presented to next for the session's client, with no idle
// timeout.
func rotate(t *testing.T, st session.Store, presented, next []byte, now time.Time) session.Session {
	t.Helper()
	s, err := st.RotateRefreshToken(t.Context(), presented, next, client, now, 0)
	if err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	return s
}

// utc makes times from any store comparable with reflect.DeepEqual.
func utc(s session.Session) session.Session {
	for _, p := range []*time.Time{&s.AuthTime, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, &s.RevokedAt} {
		*p = p.UTC()
	}
	return s
}

func checkSession(t *testing.T, what string, got, want session.Session) {
	t.Helper()
	if got, want := utc(got), utc(want); !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func checkToken(t *testing.T, what string, got, want session.RefreshToken) {
	t.Helper()
	for _, r := range []*session.RefreshToken{&got, &want} {
		r.CreatedAt, r.RotatedAt = r.CreatedAt.UTC(), r.RotatedAt.UTC()
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func getSession(t *testing.T, st session.Store, id string) session.Session {
	t.Helper()
	s, err := st.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	return s
}

func getToken(t *testing.T, st session.Store, h []byte) (session.RefreshToken, session.Session) {
	t.Helper()
	rec, s, err := st.GetRefreshToken(t.Context(), h)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	return rec, s
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func testCreateGet(t *testing.T, st session.Store) {
	ctx := t.Context()
	s := newSession(t, uuid(t), base)
	in := s
	in.AMR = slices.Clone(s.AMR)
	create(t, st, in, hash("t0"))

	got := getSession(t, st, s.ID)
	checkSession(t, "GetSession", got, s)

	// The store shares no memory with its callers.
	in.AMR[0] = "changed"
	got.AMR[0] = "changed"
	checkSession(t, "GetSession after mutating argument and result", getSession(t, st, s.ID), s)

	_, err := st.GetSession(ctx, uuid(t))
	wantErr(t, "GetSession(unknown)", err, session.ErrNotFound)
	_, err = st.GetSession(ctx, "not-a-uuid")
	wantErr(t, "GetSession(malformed)", err, session.ErrNotFound)
}

func testCreateConflict(t *testing.T, st session.Store) {
	ctx := t.Context()
	user := uuid(t)
	s := newSession(t, user, base)
	create(t, st, s, hash("t0"))

	sameID := newSession(t, user, base)
	sameID.ID = s.ID
	wantErr(t, "CreateSession(same id)", st.CreateSession(ctx, sameID, hash("other")), session.ErrConflict)
	if _, _, err := st.GetRefreshToken(ctx, hash("other")); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("token of the refused session: err = %v, want ErrNotFound", err)
	}

	sameHash := newSession(t, user, base)
	wantErr(t, "CreateSession(same token hash)", st.CreateSession(ctx, sameHash, hash("t0")), session.ErrConflict)
	if _, err := st.GetSession(ctx, sameHash.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("refused session: err = %v, want ErrNotFound", err)
	}
	checkSession(t, "first session", getSession(t, st, s.ID), s)
}

func testRotate(t *testing.T, st session.Store) {
	ctx := t.Context()
	s := newSession(t, uuid(t), base)
	create(t, st, s, hash("t0"))

	t1 := base.Add(time.Minute)
	got := rotate(t, st, hash("t0"), hash("t1"), t1)
	want := s
	want.Generation, want.LastUsedAt = 1, t1
	checkSession(t, "rotated session", got, want)
	checkSession(t, "GetSession after rotation", getSession(t, st, s.ID), want)

	old, _ := getToken(t, st, hash("t0"))
	checkToken(t, "presented token", old, session.RefreshToken{Hash: hash("t0"), SessionID: s.ID, CreatedAt: base, RotatedAt: t1})
	next, ns := getToken(t, st, hash("t1"))
	checkToken(t, "successor", next, session.RefreshToken{Hash: hash("t1"), SessionID: s.ID, Generation: 1, CreatedAt: t1})
	checkSession(t, "successor's session", ns, want)

	// Under an idle timeout, a session used within it rotates.
	t2 := t1.Add(time.Minute)
	got, err := st.RotateRefreshToken(ctx, hash("t1"), hash("t2"), client, t2, time.Minute+time.Microsecond)
	if err != nil {
		t.Fatalf("second RotateRefreshToken, within the idle timeout: %v", err)
	}
	want.Generation, want.LastUsedAt = 2, t2
	checkSession(t, "twice rotated session", got, want)
	next, _ = getToken(t, st, hash("t2"))
	checkToken(t, "second successor", next, session.RefreshToken{Hash: hash("t2"), SessionID: s.ID, Generation: 2, CreatedAt: t2})
}

func testRotateRefused(t *testing.T, st session.Store) {
	ctx := t.Context()
	user := uuid(t)
	tests := []struct {
		name   string
		setup  func(t *testing.T, s session.Session) // s is live with token "<id>/0"
		token  string                                // suffix of the presented token
		client string                                // presenting client; "" for the session's
		idle   time.Duration
		at     time.Duration // after base
	}{
		{
			name: "already rotated",
			setup: func(t *testing.T, s session.Session) {
				rotate(t, st, hash(s.ID+"/0"), hash(s.ID+"/1"), base.Add(time.Second))
			},
			token: "/0",
			at:    2 * time.Second,
		},
		{name: "unknown hash", token: "/unknown", at: time.Second},
		{
			name: "revoked session",
			setup: func(t *testing.T, s session.Session) {
				if err := st.RevokeSession(ctx, s.ID, "logout", base.Add(time.Second)); err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}
			},
			token: "/0",
			at:    2 * time.Second,
		},
		{name: "expired session", token: "/0", at: 2 * time.Hour},
		{name: "expires at that instant", token: "/0", at: time.Hour},
		{name: "another client", token: "/0", client: "other", at: time.Second},
		{
			name: "another client, rotated token",
			setup: func(t *testing.T, s session.Session) {
				rotate(t, st, hash(s.ID+"/0"), hash(s.ID+"/1"), base.Add(time.Second))
			},
			token:  "/1",
			client: "other",
			at:     2 * time.Second,
		},
		{name: "idle", token: "/0", idle: 10 * time.Minute, at: 20 * time.Minute},
		{name: "idle from that instant", token: "/0", idle: 10 * time.Minute, at: 10 * time.Minute},
		{
			name: "idle since the last rotation",
			setup: func(t *testing.T, s session.Session) {
				rotate(t, st, hash(s.ID+"/0"), hash(s.ID+"/1"), base.Add(5*time.Minute))
			},
			token: "/1",
			idle:  10 * time.Minute,
			at:    15 * time.Minute,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, user, base)
			s.ExpiresAt = base.Add(time.Hour)
			create(t, st, s, hash(s.ID+"/0"))
			if tc.setup != nil {
				tc.setup(t, s)
			}
			presented := hash(s.ID + tc.token)
			before := getSession(t, st, s.ID)
			recBefore, _, errBefore := st.GetRefreshToken(ctx, presented)
			who := tc.client
			if who == "" {
				who = client
			}

			_, err := st.RotateRefreshToken(ctx, presented, hash(s.ID+"/next"), who, base.Add(tc.at), tc.idle)
			wantErr(t, "RotateRefreshToken", err, session.ErrNotFound)

			if _, _, err := st.GetRefreshToken(ctx, hash(s.ID+"/next")); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("successor of a refused rotation: err = %v, want ErrNotFound", err)
			}
			checkSession(t, "session after refused rotation", getSession(t, st, s.ID), before)
			// The presented token is not consumed: a stolen token presented
			// by another client stays usable by its own.
			recAfter, _, errAfter := st.GetRefreshToken(ctx, presented)
			if !errors.Is(errAfter, errBefore) {
				t.Errorf("presented token after refused rotation: err = %v, want %v", errAfter, errBefore)
			} else if errAfter == nil {
				checkToken(t, "presented token after refused rotation", recAfter, recBefore)
			}
		})
	}
}

func testRotateNextConflict(t *testing.T, st session.Store) {
	ctx := t.Context()
	user := uuid(t)
	a := newSession(t, user, base)
	create(t, st, a, hash("a0"))
	b := newSession(t, user, base)
	create(t, st, b, hash("b0"))

	_, err := st.RotateRefreshToken(ctx, hash("a0"), hash("b0"), client, base.Add(time.Second), 0)
	wantErr(t, "RotateRefreshToken onto an existing hash", err, session.ErrConflict)

	// Nothing changed: the presented token is still live.
	rec, s := getToken(t, st, hash("a0"))
	checkToken(t, "presented token", rec, session.RefreshToken{Hash: hash("a0"), SessionID: a.ID, CreatedAt: base})
	checkSession(t, "its session", s, a)
	if _, err := st.RotateRefreshToken(ctx, hash("a0"), hash("a1"), client, base.Add(2*time.Second), 0); err != nil {
		t.Errorf("rotation after a conflict: %v", err)
	}
}

func testRotateParallel(t *testing.T, st session.Store) {
	ctx := t.Context()
	s := newSession(t, uuid(t), base)
	create(t, st, s, hash("t0"))

	const n = 100
	at := base.Add(time.Second)
	errs := make([]error, n)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = st.RotateRefreshToken(ctx, hash("t0"), hash(fmt.Sprint("next", i)), client, at, 0)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("rotations %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, session.ErrNotFound):
			t.Errorf("rotation %d: %v, want nil or ErrNotFound", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no rotation succeeded")
	}

	for i := range n {
		rec, _, err := st.GetRefreshToken(ctx, hash(fmt.Sprint("next", i)))
		if i != winner {
			if !errors.Is(err, session.ErrNotFound) {
				t.Errorf("successor %d of a losing rotation: err = %v, want ErrNotFound", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("winning successor: %v", err)
		}
		checkToken(t, "winning successor", rec, session.RefreshToken{
			Hash: hash(fmt.Sprint("next", i)), SessionID: s.ID, Generation: 1, CreatedAt: at,
		})
	}
	old, got := getToken(t, st, hash("t0"))
	if !old.RotatedAt.Equal(at) {
		t.Errorf("presented token RotatedAt = %v, want %v", old.RotatedAt, at)
	}
	if got.Generation != 1 {
		t.Errorf("session Generation = %d, want 1", got.Generation)
	}
}

func testGetRefreshToken(t *testing.T, st session.Store) {
	ctx := t.Context()
	s := newSession(t, uuid(t), base)
	create(t, st, s, hash("t0"))

	rec, got := getToken(t, st, hash("t0"))
	checkToken(t, "token", rec, session.RefreshToken{Hash: hash("t0"), SessionID: s.ID, CreatedAt: base})
	checkSession(t, "its session", got, s)

	// The Manager needs a revoked family's records to classify a replay.
	revokedAt := base.Add(time.Minute)
	if err := st.RevokeSession(ctx, s.ID, "logout", revokedAt); err != nil {
		t.Fatal(err)
	}
	_, got = getToken(t, st, hash("t0"))
	want := s
	want.RevokedAt, want.RevokedReason = revokedAt, "logout"
	checkSession(t, "revoked session by token", got, want)

	_, _, err := st.GetRefreshToken(ctx, hash("unknown"))
	wantErr(t, "GetRefreshToken(unknown)", err, session.ErrNotFound)
}

func testListSessions(t *testing.T, st session.Store) {
	ctx := t.Context()
	userA, userB := uuid(t), uuid(t)
	now := base.Add(time.Hour)
	const idle = 30 * time.Minute

	a1 := newSession(t, userA, base)
	a2 := newSession(t, userA, base.Add(time.Minute))
	revoked := newSession(t, userA, base.Add(2*time.Minute))
	expired := newSession(t, userA, base.Add(3*time.Minute))
	expired.ExpiresAt = base.Add(30 * time.Minute)
	idleA := newSession(t, userA, base.Add(4*time.Minute))
	b1 := newSession(t, userB, base.Add(5*time.Minute))
	// Used recently, except idleA: last used exactly idle before now.
	for _, s := range []*session.Session{&a1, &a2, &revoked, &expired, &b1} {
		s.LastUsedAt = now.Add(-idle / 2)
	}
	idleA.LastUsedAt = now.Add(-idle)
	for i, s := range []session.Session{a1, a2, revoked, expired, idleA, b1} {
		create(t, st, s, hash(fmt.Sprint("t", i)))
	}
	if err := st.RevokeSession(ctx, revoked.ID, "logout", base.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}

	list := func(user string, idle time.Duration) []session.Session {
		t.Helper()
		ss, err := st.ListSessions(ctx, user, now, idle)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		return ss
	}
	checkList := func(what string, got, want []session.Session) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %d sessions, want %d: %+v", what, len(got), len(want), got)
		}
		for i := range got {
			checkSession(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
		}
	}
	checkList("user A", list(userA, idle), []session.Session{a2, a1})
	checkList("user A without idle timeout", list(userA, 0), []session.Session{idleA, a2, a1})
	checkList("user B", list(userB, idle), []session.Session{b1})
	checkList("unknown user", list(uuid(t), idle), nil)
	checkList("malformed user id", list("not-a-uuid", idle), nil)
}

func testRevokeSession(t *testing.T, st session.Store) {
	ctx := t.Context()
	s := newSession(t, uuid(t), base)
	create(t, st, s, hash("t0"))

	first := base.Add(time.Minute)
	if err := st.RevokeSession(ctx, s.ID, "logout", first); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	want := s
	want.RevokedAt, want.RevokedReason = first, "logout"
	checkSession(t, "revoked session", getSession(t, st, s.ID), want)

	if err := st.RevokeSession(ctx, s.ID, "reuse", first.Add(time.Minute)); err != nil {
		t.Errorf("second RevokeSession: %v", err)
	}
	checkSession(t, "session revoked twice", getSession(t, st, s.ID), want)

	wantErr(t, "RevokeSession(unknown)", st.RevokeSession(ctx, uuid(t), "logout", first), session.ErrNotFound)
	wantErr(t, "RevokeSession(malformed)", st.RevokeSession(ctx, "not-a-uuid", "logout", first), session.ErrNotFound)
}

func testDeleteExpired(t *testing.T, st session.Store) {
	ctx := t.Context()
	user := uuid(t)
	cutoff := base.Add(10 * time.Hour)
	const idle = 3 * time.Hour
	type fixture struct {
		s         session.Session
		usedAt    time.Time // when its first token is rotated
		revokedAt time.Time
		deleted   bool // by a clean-up without idle timeout
		idle      bool // only by one with it
	}
	withExpiry := func(d time.Duration) session.Session {
		s := newSession(t, user, base)
		s.ExpiresAt = base.Add(d)
		return s
	}
	early, late := base.Add(time.Minute), base.Add(8*time.Hour) // late: not idle at cutoff
	fixtures := map[string]*fixture{
		"live":             {s: withExpiry(100 * time.Hour), usedAt: late},
		"expired before":   {s: withExpiry(5 * time.Hour), usedAt: early, deleted: true},
		"expired at":       {s: withExpiry(10 * time.Hour), usedAt: late},
		"expires after":    {s: withExpiry(11 * time.Hour), usedAt: late},
		"revoked before":   {s: withExpiry(100 * time.Hour), usedAt: early, revokedAt: base.Add(5 * time.Hour), deleted: true},
		"revoked after":    {s: withExpiry(100 * time.Hour), usedAt: late, revokedAt: base.Add(11 * time.Hour)},
		"revoked, expired": {s: withExpiry(2 * time.Hour), usedAt: early, revokedAt: base.Add(time.Hour), deleted: true},
		"idle before":      {s: withExpiry(100 * time.Hour), usedAt: early, idle: true},
		"idle at":          {s: withExpiry(100 * time.Hour), usedAt: cutoff.Add(-idle)},
	}
	for name, f := range fixtures {
		create(t, st, f.s, hash(name+"/0"))
		// A rotated token too: every token of a deleted family must go.
		rotate(t, st, hash(name+"/0"), hash(name+"/1"), f.usedAt)
		if !f.revokedAt.IsZero() {
			if err := st.RevokeSession(ctx, f.s.ID, "revoked", f.revokedAt); err != nil {
				t.Fatalf("%s: RevokeSession: %v", name, err)
			}
		}
	}
	check := func(deleted func(*fixture) bool) {
		t.Helper()
		for name, f := range fixtures {
			_, err := st.GetSession(ctx, f.s.ID)
			for _, h := range [][]byte{hash(name + "/0"), hash(name + "/1")} {
				_, _, terr := st.GetRefreshToken(ctx, h)
				if deleted(f) && !errors.Is(terr, session.ErrNotFound) {
					t.Errorf("%s: token of a deleted session: err = %v, want ErrNotFound", name, terr)
				}
				if !deleted(f) && terr != nil {
					t.Errorf("%s: token of a kept session: %v", name, terr)
				}
			}
			if deleted(f) && !errors.Is(err, session.ErrNotFound) {
				t.Errorf("%s: deleted session: err = %v, want ErrNotFound", name, err)
			}
			if !deleted(f) && err != nil {
				t.Errorf("%s: kept session: %v", name, err)
			}
		}
	}

	if n, err := st.DeleteExpired(ctx, cutoff, 0, 100); err != nil || n != 3 {
		t.Errorf("DeleteExpired without idle timeout = %d, %v; want 3, nil", n, err)
	}
	check(func(f *fixture) bool { return f.deleted })

	if n, err := st.DeleteExpired(ctx, cutoff, idle, 100); err != nil || n != 1 {
		t.Errorf("DeleteExpired with idle timeout = %d, %v; want 1, nil", n, err)
	}
	check(func(f *fixture) bool { return f.deleted || f.idle })

	if n, err := st.DeleteExpired(ctx, cutoff, idle, 100); err != nil || n != 0 {
		t.Errorf("third DeleteExpired = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteExpiredLimit(t *testing.T, st session.Store) {
	ctx := t.Context()
	user := uuid(t)
	cutoff := base.Add(2 * time.Hour)
	var ended []session.Session
	for i := range 5 {
		s := newSession(t, user, base)
		s.ExpiresAt = base.Add(time.Hour)
		create(t, st, s, hash(fmt.Sprint("ended", i)))
		ended = append(ended, s)
	}
	live := newSession(t, user, base)
	create(t, st, live, hash("live"))

	for i, want := range []int{2, 2, 1, 0} {
		if n, err := st.DeleteExpired(ctx, cutoff, 0, 2); err != nil || n != want {
			t.Errorf("DeleteExpired %d with limit 2 = %d, %v; want %d, nil", i, n, err, want)
		}
	}
	for i, s := range ended {
		if _, err := st.GetSession(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("ended session %d: err = %v, want ErrNotFound", i, err)
		}
		if _, _, err := st.GetRefreshToken(ctx, hash(fmt.Sprint("ended", i))); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("token of ended session %d: err = %v, want ErrNotFound", i, err)
		}
	}
	checkSession(t, "live session", getSession(t, st, live.ID), live)
}
