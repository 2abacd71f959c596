// Package identitytest is the conformance suite of identity.Store: every
// implementation runs it, so the memory store used in development behaves
// like the PostgreSQL one in production.
package identitytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/identity"
	"github.com/authd/authd/internal/random"
)

// Run runs the suite, each test on a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) identity.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s identity.Store)
	}{
		{"CreateGet", testCreateGet},
		{"SingleAddress", testSingleAddress},
		{"TimePrecision", testTimePrecision},
		{"NotFound", testNotFound},
		{"CreateConflict", testCreateConflict},
		{"CreateWithoutAddress", testCreateWithoutAddress},
		{"Update", testUpdate},
		{"UpdateConflict", testUpdateConflict},
		{"UpdateAbort", testUpdateAbort},
		{"UpdateRefused", testUpdateRefused},
		{"UpdateParallel", testUpdateParallel},
		{"Copies", testCopies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// base is a time with no precision beyond the microsecond, which every
// store keeps exactly.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func newID(t *testing.T) string {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fullUser has every field set.
func fullUser(t *testing.T, n int) identity.User {
	return identity.User{
		ID:              newID(t),
		Email:           fmt.Sprintf("user%d@example.com", n),
		Phone:           fmt.Sprintf("+4420794609%02d", n),
		EmailVerifiedAt: base.Add(time.Minute),
		PhoneVerifiedAt: base.Add(2 * time.Minute),
		PasswordHash:    "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43),
		Name:            fmt.Sprintf("User %d", n),
		CreatedAt:       base,
		UpdatedAt:       base.Add(3 * time.Minute),
	}
}

func create(t *testing.T, s identity.Store, u identity.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Email+u.Phone, err)
	}
}

// diff lists the fields where got is not want, comparing times as instants.
func diff(got, want identity.User) []string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("Email", got.Email, want.Email)
	str("Phone", got.Phone, want.Phone)
	tm("EmailVerifiedAt", got.EmailVerifiedAt, want.EmailVerifiedAt)
	tm("PhoneVerifiedAt", got.PhoneVerifiedAt, want.PhoneVerifiedAt)
	str("PasswordHash", got.PasswordHash, want.PasswordHash)
	str("Name", got.Name, want.Name)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return d
}

func checkUser(t *testing.T, what string, got identity.User, err error, want identity.User) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d := diff(got, want); d != nil {
		t.Errorf("%s:\n%s", what, strings.Join(d, "\n"))
	}
}

// checkStored checks that want is what the store holds, by every key.
func checkStored(t *testing.T, s identity.Store, want identity.User) {
	t.Helper()
	ctx := context.Background()
	got, err := s.GetUser(ctx, want.ID)
	checkUser(t, "GetUser", got, err, want)
	if want.Email != "" {
		got, err := s.GetUserByEmail(ctx, want.Email)
		checkUser(t, "GetUserByEmail", got, err, want)
	}
	if want.Phone != "" {
		got, err := s.GetUserByPhone(ctx, want.Phone)
		checkUser(t, "GetUserByPhone", got, err, want)
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func testCreateGet(t *testing.T, s identity.Store) {
	u1, u2 := fullUser(t, 1), fullUser(t, 2)
	create(t, s, u1)
	create(t, s, u2)
	checkStored(t, s, u1)
	checkStored(t, s, u2)
}

// testSingleAddress checks that "" and the zero time survive a round trip
// and that any number of users may lack an email or a phone.
func testSingleAddress(t *testing.T, s identity.Store) {
	var users []identity.User
	for i := range 2 {
		users = append(users,
			identity.User{ID: newID(t), Email: fmt.Sprintf("only%d@example.com", i), CreatedAt: base, UpdatedAt: base},
			identity.User{ID: newID(t), Phone: fmt.Sprintf("+1415555267%d", i), CreatedAt: base, UpdatedAt: base})
	}
	for _, u := range users {
		create(t, s, u)
	}
	for _, u := range users {
		checkStored(t, s, u)
	}
	ctx := context.Background()
	_, err := s.GetUserByEmail(ctx, "")
	checkErr(t, `GetUserByEmail("")`, err, identity.ErrNotFound)
	_, err = s.GetUserByPhone(ctx, "")
	checkErr(t, `GetUserByPhone("")`, err, identity.ErrNotFound)
}

func testTimePrecision(t *testing.T, s identity.Store) {
	u := fullUser(t, 1)
	local := time.FixedZone("UTC+5:30", 5*3600+1800)
	u.CreatedAt = time.Date(2026, 3, 14, 20, 39, 26, 535897932, local)
	create(t, s, u)
	got, err := s.GetUser(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := u.CreatedAt.Truncate(time.Microsecond)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, want.UTC())
	}
}

func testNotFound(t *testing.T, s identity.Store) {
	ctx := context.Background()
	create(t, s, fullUser(t, 1))
	_, err := s.GetUser(ctx, newID(t))
	checkErr(t, "GetUser(unknown)", err, identity.ErrNotFound)
	_, err = s.GetUser(ctx, "not-a-uuid")
	checkErr(t, "GetUser(not-a-uuid)", err, identity.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, "nobody@example.com")
	checkErr(t, "GetUserByEmail(unknown)", err, identity.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, "USER1@example.com")
	checkErr(t, "GetUserByEmail(other case)", err, identity.ErrNotFound)
	_, err = s.GetUserByPhone(ctx, "+442079460999")
	checkErr(t, "GetUserByPhone(unknown)", err, identity.ErrNotFound)
	called := false
	_, err = s.UpdateUser(ctx, newID(t), func(*identity.User) error { called = true; return nil })
	checkErr(t, "UpdateUser(unknown)", err, identity.ErrNotFound)
	if called {
		t.Error("UpdateUser(unknown) called fn")
	}
}

func testCreateConflict(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u1 := fullUser(t, 1)
	create(t, s, u1)
	for _, tc := range []struct {
		name string
		edit func(u *identity.User)
	}{
		{"same email", func(u *identity.User) { u.Email = u1.Email }},
		{"same phone", func(u *identity.User) { u.Phone = u1.Phone }},
		{"same id", func(u *identity.User) { u.ID = u1.ID }},
	} {
		u := fullUser(t, 2)
		tc.edit(&u)
		checkErr(t, "CreateUser("+tc.name+")", s.CreateUser(ctx, u), identity.ErrConflict)
		if u.Email != u1.Email {
			_, err := s.GetUserByEmail(ctx, u.Email)
			checkErr(t, tc.name+": refused user's email", err, identity.ErrNotFound)
		}
		if u.Phone != u1.Phone {
			_, err := s.GetUserByPhone(ctx, u.Phone)
			checkErr(t, tc.name+": refused user's phone", err, identity.ErrNotFound)
		}
	}
	checkStored(t, s, u1)
}

func testCreateWithoutAddress(t *testing.T, s identity.Store) {
	u := identity.User{ID: newID(t), Name: "nobody", CreatedAt: base, UpdatedAt: base}
	if err := s.CreateUser(context.Background(), u); err == nil {
		t.Fatal("CreateUser without email and phone succeeded")
	}
	_, err := s.GetUser(context.Background(), u.ID)
	checkErr(t, "GetUser(refused)", err, identity.ErrNotFound)
}

func testUpdate(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u := fullUser(t, 1)
	create(t, s, u)
	want := u
	want.Email = "renamed@example.com"
	want.Phone = ""
	want.PhoneVerifiedAt = time.Time{}
	want.EmailVerifiedAt = base.Add(time.Hour)
	want.PasswordHash = "$2a$10$" + strings.Repeat("b", 53)
	want.Name = "Renamed"
	want.UpdatedAt = base.Add(time.Hour)
	got, err := s.UpdateUser(ctx, u.ID, func(cur *identity.User) error {
		if d := diff(*cur, u); d != nil {
			t.Errorf("fn got:\n%s", strings.Join(d, "\n"))
		}
		*cur = want
		return nil
	})
	checkUser(t, "UpdateUser", got, err, want)
	checkStored(t, s, want)
	_, err = s.GetUserByEmail(ctx, u.Email)
	checkErr(t, "GetUserByEmail(old email)", err, identity.ErrNotFound)
	_, err = s.GetUserByPhone(ctx, u.Phone)
	checkErr(t, "GetUserByPhone(removed phone)", err, identity.ErrNotFound)

	// The old addresses are free again.
	other := fullUser(t, 1)
	create(t, s, other)
	checkStored(t, s, other)
}

func testUpdateConflict(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u1, u2 := fullUser(t, 1), fullUser(t, 2)
	create(t, s, u1)
	create(t, s, u2)
	_, err := s.UpdateUser(ctx, u2.ID, func(u *identity.User) error { u.Email = u1.Email; u.Name = "changed"; return nil })
	checkErr(t, "UpdateUser(taken email)", err, identity.ErrConflict)
	_, err = s.UpdateUser(ctx, u2.ID, func(u *identity.User) error { u.Phone = u1.Phone; u.Name = "changed"; return nil })
	checkErr(t, "UpdateUser(taken phone)", err, identity.ErrConflict)
	checkStored(t, s, u1)
	checkStored(t, s, u2)
}

func testUpdateAbort(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u := fullUser(t, 1)
	create(t, s, u)
	errAbort := errors.New("abort")
	_, err := s.UpdateUser(ctx, u.ID, func(cur *identity.User) error {
		cur.Name = "changed"
		cur.Email = "changed@example.com"
		return errAbort
	})
	if err != errAbort {
		t.Errorf("UpdateUser: error %v, want fn's error as is", err)
	}
	checkStored(t, s, u)
	_, err = s.GetUserByEmail(ctx, "changed@example.com")
	checkErr(t, "GetUserByEmail(aborted email)", err, identity.ErrNotFound)
}

func testUpdateRefused(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u := fullUser(t, 1)
	create(t, s, u)
	for name, fn := range map[string]func(*identity.User) error{
		"remove both addresses": func(u *identity.User) error { u.Email, u.Phone = "", ""; return nil },
		"change id":             func(u *identity.User) error { u.ID = newID(t); return nil },
	} {
		if _, err := s.UpdateUser(ctx, u.ID, fn); err == nil {
			t.Errorf("UpdateUser(%s) succeeded", name)
		}
	}
	checkStored(t, s, u)
}

// testUpdateParallel is Dex's RefreshTokenParallelUpdate: many concurrent
// read-modify-writes of one user, none lost.
func testUpdateParallel(t *testing.T, s identity.Store) {
	const n = 100
	ctx := context.Background()
	u := fullUser(t, 1)
	u.Name = ""
	create(t, s, u)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateUser(ctx, u.ID, func(cur *identity.User) error {
				cur.Name += "x"
				cur.UpdatedAt = cur.UpdatedAt.Add(time.Second)
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Name) != n {
		t.Errorf("after %d appends Name has %d characters: updates were lost", n, len(got.Name))
	}
	if want := u.UpdatedAt.Add(n * time.Second); !got.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, want)
	}
}

// testCopies checks that no value handed in or out aliases stored state.
func testCopies(t *testing.T, s identity.Store) {
	ctx := context.Background()
	u := fullUser(t, 1)
	create(t, s, u)
	want := u
	u.Name = "mutated after create"

	got, err := s.GetUser(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Name = "mutated after get"

	var kept *identity.User
	updated, err := s.UpdateUser(ctx, want.ID, func(cur *identity.User) error { kept = cur; return nil })
	if err != nil {
		t.Fatal(err)
	}
	kept.Name = "mutated after update through fn's pointer"
	updated.Name = "mutated after update"

	checkStored(t, s, want)
}
