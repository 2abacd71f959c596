package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/identity"
	"github.com/authd/authd/internal/random"
	"github.com/authd/authd/internal/testclock"
)

func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
}

type fixture struct {
	store  *identity.MemoryStore
	hasher *identity.Hasher
	clock  *testclock.Clock
	svc    *identity.Service
}

func newFixture(t *testing.T, opts ...identity.Option) *fixture {
	t.Helper()
	f := &fixture{store: identity.NewMemoryStore(), hasher: newHasher(t, cheap, 0), clock: newClock()}
	f.svc = identity.NewService(f.store, f.hasher, identity.Policy{}, append([]identity.Option{identity.WithClock(f.clock.Now)}, opts...)...)
	return f
}

func (f *fixture) signUp(t *testing.T, in identity.SignUpInput) identity.SignUpOutcome {
	t.Helper()
	out, err := f.svc.SignUp(context.Background(), in)
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	return out
}

// addUser stores a user directly, with a hash of password made by hasher
// ("" for none).
func (f *fixture) addUser(t *testing.T, u identity.User, password string) identity.User {
	t.Helper()
	if password != "" {
		var err error
		if u.PasswordHash, err = f.hasher.Hash(context.Background(), password); err != nil {
			t.Fatal(err)
		}
	}
	if u.ID == "" {
		u.ID = newID(t)
	}
	u.CreatedAt, u.UpdatedAt = f.clock.Now(), f.clock.Now()
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) get(t *testing.T, id string) identity.User {
	t.Helper()
	u, err := f.store.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkPassword checks whether hash verifies password.
func (f *fixture) checkPassword(t *testing.T, what, hash, password string, want bool) {
	t.Helper()
	if ok, _ := verify(t, f.hasher, hash, password); ok != want {
		t.Errorf("%s: password %q verifies = %v, want %v", what, password, ok, want)
	}
}

func newID(t *testing.T) string {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSignUpCreates(t *testing.T) {
	tests := []struct {
		name         string
		in           identity.SignUpInput
		email, phone string
	}{
		{"email", identity.SignUpInput{Email: " Alice@Example.COM ", Password: "password123", Name: "  Alice "}, "alice@example.com", ""},
		{"phone", identity.SignUpInput{Phone: "+1 (415) 555-2671", Password: "password123", Name: "Alice"}, "", "+14155552671"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := bytes.NewReader(bytes.Repeat([]byte{0xab}, 16))
			f := newFixture(t, identity.WithRandom(ids))
			out := f.signUp(t, tt.in)
			if !out.Created || out.AlreadyVerified {
				t.Errorf("Created, AlreadyVerified = %v, %v; want true, false", out.Created, out.AlreadyVerified)
			}
			want := identity.User{
				ID:           "abababab-abab-4bab-abab-abababababab",
				Email:        tt.email,
				Phone:        tt.phone,
				PasswordHash: out.User.PasswordHash,
				Name:         "Alice",
				CreatedAt:    f.clock.Now(),
				UpdatedAt:    f.clock.Now(),
			}
			if out.User != want {
				t.Errorf("User = %+v\nwant %+v", out.User, want)
			}
			if got := f.get(t, want.ID); got != want {
				t.Errorf("stored %+v\nwant %+v", got, want)
			}
			if !strings.HasPrefix(out.User.PasswordHash, "$argon2id$") {
				t.Errorf("PasswordHash = %q, want argon2id", out.User.PasswordHash)
			}
			f.checkPassword(t, "PasswordHash", out.User.PasswordHash, "password123", true)
		})
	}
}

// refusingStore fails the test on any call: refusals must come before the
// address is looked up.
type refusingStore struct {
	identity.Store
	t *testing.T
}

func (s refusingStore) GetUserByEmail(context.Context, string) (identity.User, error) {
	s.t.Error("GetUserByEmail called")
	return identity.User{}, identity.ErrNotFound
}

func (s refusingStore) GetUserByPhone(context.Context, string) (identity.User, error) {
	s.t.Error("GetUserByPhone called")
	return identity.User{}, identity.ErrNotFound
}

func (s refusingStore) CreateUser(context.Context, identity.User) error {
	s.t.Error("CreateUser called")
	return nil
}

func TestSignUpRefusals(t *testing.T) {
	tests := []struct {
		name   string
		in     identity.SignUpInput
		err    error
		reason string
	}{
		{"no address", identity.SignUpInput{Password: "password123"}, identity.ErrAddressRequired, ""},
		{"both addresses", identity.SignUpInput{Email: "a@example.com", Phone: "+14155552671", Password: "password123"}, identity.ErrAddressRequired, ""},
		{"invalid email", identity.SignUpInput{Email: "Alice <a@example.com>", Password: "password123"}, identity.ErrInvalidEmail, ""},
		{"invalid phone", identity.SignUpInput{Phone: "4155552671", Password: "password123"}, identity.ErrInvalidPhone, ""},
		{"short password", identity.SignUpInput{Email: "a@example.com", Password: "short"}, nil, identity.ReasonPasswordTooShort},
		{"long password", identity.SignUpInput{Phone: "+14155552671", Password: strings.Repeat("x", 129)}, nil, identity.ReasonPasswordTooLong},
		{"NUL in password", identity.SignUpInput{Email: "a@example.com", Password: "password\x00123"}, nil, identity.ReasonPasswordInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := identity.NewService(refusingStore{t: t}, newHasher(t, cheap, 0), identity.Policy{})
			out, err := svc.SignUp(context.Background(), tt.in)
			if out != (identity.SignUpOutcome{}) {
				t.Errorf("outcome %+v, want none", out)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
			var pe *identity.PolicyError
			if tt.reason != "" && (!errors.As(err, &pe) || pe.Reason != tt.reason) {
				t.Errorf("error %v, want a PolicyError %s", err, tt.reason)
			}
		})
	}
}

func TestSignUpKnownUnverified(t *testing.T) {
	tests := []struct {
		name          string
		first, second identity.SignUpInput
		channel       identity.Channel
		login         string
		wantName      string
	}{
		{
			name:     "email, new name",
			first:    identity.SignUpInput{Email: "alice@example.com", Password: "first password", Name: "Alice"},
			second:   identity.SignUpInput{Email: " ALICE@example.com", Password: "second password", Name: " Alice Liddell "},
			channel:  identity.ChannelEmail,
			login:    "alice@example.com",
			wantName: "Alice Liddell",
		},
		{
			name:     "phone, no name",
			first:    identity.SignUpInput{Phone: "+14155552671", Password: "first password", Name: "Alice"},
			second:   identity.SignUpInput{Phone: "001 415 555 2671", Password: "second password"},
			channel:  identity.ChannelPhone,
			login:    "+14155552671",
			wantName: "Alice",
		},
		{
			name:     "blank name",
			first:    identity.SignUpInput{Email: "alice@example.com", Password: "first password", Name: "Alice"},
			second:   identity.SignUpInput{Email: "alice@example.com", Password: "second password", Name: "   "},
			channel:  identity.ChannelEmail,
			login:    "alice@example.com",
			wantName: "Alice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			first := f.signUp(t, tt.first)
			f.clock.Advance(time.Minute)
			second := f.signUp(t, tt.second)

			if second.Created || second.AlreadyVerified {
				t.Errorf("second signup: Created, AlreadyVerified = %v, %v; want false, false", second.Created, second.AlreadyVerified)
			}
			want := first.User
			want.PasswordHash = second.User.PasswordHash
			want.Name = tt.wantName
			want.UpdatedAt = f.clock.Now()
			if second.User != want {
				t.Errorf("second signup: User = %+v\nwant %+v", second.User, want)
			}
			if got := f.get(t, first.User.ID); got != want {
				t.Errorf("stored %+v\nwant %+v", got, want)
			}
			f.checkPassword(t, "stored hash", want.PasswordHash, "second password", true)
			f.checkPassword(t, "stored hash", want.PasswordHash, "first password", false)

			f.clock.Advance(time.Minute)
			if _, err := f.svc.CompleteSignUp(ctx, first.User.ID, tt.channel); err != nil {
				t.Fatal(err)
			}
			if u, err := f.svc.Authenticate(ctx, tt.login, "second password"); err != nil || u.ID != first.User.ID || u.Name != tt.wantName {
				t.Errorf("Authenticate(second password) = %+v, %v; want user %s named %q", u, err, first.User.ID, tt.wantName)
			}
			if _, err := f.svc.Authenticate(ctx, tt.login, "first password"); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Errorf("Authenticate(first password): %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

// TestSignUpPreRegistration: Mallory signs up first with Alice's address,
// to own the account once Alice verifies it. Alice's own signup replaces
// Mallory's password, so Alice's verification (by whichever code, a resent
// one too) activates only Alice's.
func TestSignUpPreRegistration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mallory := f.signUp(t, identity.SignUpInput{Email: "alice@example.com", Password: "mallory's password", Name: "Mallory"})
	f.clock.Advance(time.Hour)
	alice := f.signUp(t, identity.SignUpInput{Email: "Alice@Example.com", Password: "alice's password", Name: "Alice"})
	if !mallory.Created || alice.Created || alice.AlreadyVerified || alice.User.ID != mallory.User.ID {
		t.Fatalf("Mallory's signup %+v, Alice's %+v; want Alice's to find the account Mallory created", mallory, alice)
	}

	f.clock.Advance(time.Minute)
	u, err := f.svc.CompleteSignUp(ctx, alice.User.ID, identity.ChannelEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !u.EmailVerifiedAt.Equal(f.clock.Now()) || u.Name != "Alice" || u.PasswordHash != alice.User.PasswordHash {
		t.Errorf("after Alice's verification: %+v; want verified at %v, named Alice, with Alice's hash", u, f.clock.Now())
	}
	if got, err := f.svc.Authenticate(ctx, "alice@example.com", "alice's password"); err != nil || got != u {
		t.Errorf("Authenticate(Alice's password) = %+v, %v; want %+v", got, err, u)
	}
	if _, err := f.svc.Authenticate(ctx, "alice@example.com", "mallory's password"); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Errorf("Authenticate(Mallory's password): %v, want ErrInvalidCredentials", err)
	}

	// Once the account is live, Mallory's next signup changes nothing.
	f.clock.Advance(time.Minute)
	again := f.signUp(t, identity.SignUpInput{Email: "alice@example.com", Password: "mallory's password", Name: "Mallory"})
	if again.Created || !again.AlreadyVerified || again.User != u {
		t.Errorf("Mallory's signup after verification = %+v; want AlreadyVerified with %+v", again, u)
	}
	if got := f.get(t, u.ID); got != u {
		t.Errorf("Mallory's signup after verification changed the user: %+v, want %+v", got, u)
	}
}

func TestSignUpKnownVerified(t *testing.T) {
	f := newFixture(t)
	verifiedAt := f.clock.Now()
	byEmail := f.addUser(t, identity.User{Email: "alice@example.com", EmailVerifiedAt: verifiedAt, Name: "Alice"}, "alice's password")
	// A live account whose email is not proven yet: a signup on that email
	// must not become a way to set its password either.
	byPhone := f.addUser(t, identity.User{Email: "bob@example.com", Phone: "+14155552671", PhoneVerifiedAt: verifiedAt, Name: "Bob"}, "bob's password")
	f.clock.Advance(time.Hour)

	for _, tc := range []struct {
		in   identity.SignUpInput
		user identity.User
	}{
		{identity.SignUpInput{Email: "alice@example.com", Password: "another password", Name: "Mallory"}, byEmail},
		{identity.SignUpInput{Email: "bob@example.com", Password: "another password", Name: "Mallory"}, byPhone},
		{identity.SignUpInput{Phone: "001 415 555 2671", Password: "another password"}, byPhone},
	} {
		out := f.signUp(t, tc.in)
		if out.Created || !out.AlreadyVerified || out.User != tc.user {
			t.Errorf("SignUp(%s): Created %v, AlreadyVerified %v, User %+v; want false, true, %+v",
				tc.in.Email+tc.in.Phone, out.Created, out.AlreadyVerified, out.User, tc.user)
		}
		if got := f.get(t, tc.user.ID); got != tc.user {
			t.Errorf("SignUp(%s) changed the user: %+v", tc.in.Email+tc.in.Phone, got)
		}
	}
	for login, password := range map[string]string{"alice@example.com": "alice's password", "bob@example.com": "bob's password"} {
		if _, err := f.svc.Authenticate(context.Background(), login, password); err != nil {
			t.Errorf("Authenticate(%s, own password): %v", login, err)
		}
		if _, err := f.svc.Authenticate(context.Background(), login, "another password"); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%s, signup's password): %v, want ErrInvalidCredentials", login, err)
		}
	}
}

// verifyAfterLookup answers an email lookup with the user as it was, then
// verifies that email, as a CompleteSignUp that ran right after would.
type verifyAfterLookup struct {
	identity.Store
	at time.Time
}

func (s verifyAfterLookup) GetUserByEmail(ctx context.Context, email string) (identity.User, error) {
	u, err := s.Store.GetUserByEmail(ctx, email)
	if err != nil {
		return u, err
	}
	_, err = s.Store.UpdateUser(ctx, u.ID, func(u *identity.User) error {
		u.EmailVerifiedAt, u.UpdatedAt = s.at, s.at
		return nil
	})
	return u, err
}

func TestSignUpVerifiedConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first := f.signUp(t, identity.SignUpInput{Email: "alice@example.com", Password: "alice's password", Name: "Alice"})
	f.clock.Advance(time.Minute)
	want := first.User
	want.EmailVerifiedAt, want.UpdatedAt = f.clock.Now(), f.clock.Now()

	f.clock.Advance(time.Minute)
	svc := identity.NewService(verifyAfterLookup{Store: f.store, at: want.EmailVerifiedAt}, f.hasher, identity.Policy{}, identity.WithClock(f.clock.Now))
	out, err := svc.SignUp(ctx, identity.SignUpInput{Email: "alice@example.com", Password: "mallory's password", Name: "Mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Created || !out.AlreadyVerified || out.User != want {
		t.Errorf("SignUp = %+v; want AlreadyVerified with %+v", out, want)
	}
	if got := f.get(t, want.ID); got != want {
		t.Errorf("stored %+v, want the verified user unchanged %+v", got, want)
	}
}

// lookupBarrier holds the first n email lookups until all n have been
// made, so that as many signups all miss the address and race to create it.
type lookupBarrier struct {
	identity.Store
	n       int32
	calls   atomic.Int32
	arrived sync.WaitGroup
}

func (s *lookupBarrier) GetUserByEmail(ctx context.Context, email string) (identity.User, error) {
	if s.calls.Add(1) <= s.n {
		s.arrived.Done()
		s.arrived.Wait()
	}
	return s.Store.GetUserByEmail(ctx, email)
}

func TestSignUpConcurrent(t *testing.T) {
	const n = 10
	store := &lookupBarrier{Store: identity.NewMemoryStore(), n: n}
	store.arrived.Add(n)
	svc := identity.NewService(store, newHasher(t, cheap, 0), identity.Policy{})
	outs := make(chan identity.SignUpOutcome, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			out, err := svc.SignUp(context.Background(), identity.SignUpInput{Email: "race@example.com", Password: "password123"})
			if err != nil {
				t.Errorf("SignUp: %v", err)
			}
			outs <- out
		})
	}
	wg.Wait()
	close(outs)
	created, ids := 0, map[string]bool{}
	for out := range outs {
		if out.Created {
			created++
		}
		ids[out.User.ID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d signups created %d users, answered with %d ids; want 1 and 1", n, created, len(ids))
	}
}

func TestCompleteSignUp(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	out := f.signUp(t, identity.SignUpInput{Phone: "+14155552671", Password: "password123", Name: "Alice"})

	f.clock.Advance(time.Minute)
	verifiedAt := f.clock.Now()
	want := out.User
	want.PhoneVerifiedAt, want.UpdatedAt = verifiedAt, verifiedAt
	u, err := f.svc.CompleteSignUp(ctx, out.User.ID, identity.ChannelPhone)
	if err != nil || u != want {
		t.Fatalf("CompleteSignUp = %+v, %v\nwant %+v", u, err, want)
	}
	if got := f.get(t, u.ID); got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}

	// A second code for the same address, entered later, keeps the first
	// verification time.
	f.clock.Advance(time.Minute)
	want.UpdatedAt = f.clock.Now()
	u, err = f.svc.CompleteSignUp(ctx, out.User.ID, identity.ChannelPhone)
	if err != nil || u != want {
		t.Fatalf("second CompleteSignUp = %+v, %v\nwant %+v (phone verified at %v)", u, err, want, verifiedAt)
	}

	f.clock.Advance(time.Minute)
	for _, tc := range []struct {
		name    string
		id      string
		channel identity.Channel
		err     error // nil: any error
	}{
		{"channel without an address", out.User.ID, identity.ChannelEmail, nil},
		{"unknown channel", out.User.ID, identity.Channel("carrier pigeon"), nil},
		{"unknown user", newID(t), identity.ChannelPhone, identity.ErrNotFound},
	} {
		got, err := f.svc.CompleteSignUp(ctx, tc.id, tc.channel)
		if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) || got != (identity.User{}) {
			t.Errorf("CompleteSignUp(%s) = %+v, %v; want no user and error %v", tc.name, got, err, tc.err)
		}
	}
	if got := f.get(t, u.ID); got != want {
		t.Errorf("a refused CompleteSignUp changed the user: %+v, want %+v", got, want)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	verified := f.addUser(t, identity.User{Email: "alice@example.com", Phone: "+14155552671", EmailVerifiedAt: f.clock.Now()}, "alice's password")
	f.addUser(t, identity.User{Email: "new@example.com"}, "new password")
	f.addUser(t, identity.User{Email: "otp@example.com", EmailVerifiedAt: f.clock.Now()}, "")

	tests := []struct {
		login, password string
		err             error // nil: success as verified
	}{
		{"alice@example.com", "alice's password", nil},
		{"  Alice@EXAMPLE.com ", "alice's password", nil},
		{"+1 415-555-2671", "alice's password", nil},
		{"alice@example.com", "Alice's password", identity.ErrInvalidCredentials},
		{"alice@example.com", "", identity.ErrInvalidCredentials},
		{"bob@example.com", "alice's password", identity.ErrInvalidCredentials},
		{"+14155550000", "alice's password", identity.ErrInvalidCredentials},
		{"new@example.com", "new password", identity.ErrNotVerified},
		{"new@example.com", "wrong password", identity.ErrInvalidCredentials},
		{"otp@example.com", "", identity.ErrInvalidCredentials},
		{"otp@example.com", "anything", identity.ErrInvalidCredentials},
		{"alice@", "alice's password", identity.ErrInvalidEmail},
		{"alice", "alice's password", identity.ErrInvalidPhone},
	}
	for _, tt := range tests {
		u, err := f.svc.Authenticate(ctx, tt.login, tt.password)
		if tt.err == nil {
			if err != nil || u != verified {
				t.Errorf("Authenticate(%q, %q) = %+v, %v; want %+v", tt.login, tt.password, u, err, verified)
			}
			continue
		}
		if !errors.Is(err, tt.err) || u != (identity.User{}) {
			t.Errorf("Authenticate(%q, %q) = %+v, %v; want %v", tt.login, tt.password, u, err, tt.err)
		}
	}
}

// TestAuthenticateUnknownDoesHashWork shows, through the hasher's queue,
// that a login without a hash to check still does a hash's work.
func TestAuthenticateUnknownDoesHashWork(t *testing.T) {
	f := newFixture(t)
	f.hasher = newHasher(t, cheap, 1)
	svc := identity.NewService(f.store, f.hasher, identity.Policy{})
	f.addUser(t, identity.User{Email: "otp@example.com", EmailVerifiedAt: f.clock.Now()}, "")
	release, err := f.hasher.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, login := range []string{"nobody@example.com", "otp@example.com"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := svc.Authenticate(ctx, login, "password123")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Authenticate(%s) with the hasher busy: %v; want it to wait for the hasher", login, err)
		}
	}
}

func TestAuthenticateUpgradesHashes(t *testing.T) {
	ctx := context.Background()
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	oldHasher := newHasher(t, identity.HashParams{Memory: 128, Iterations: 1, Parallelism: 1}, 0)
	oldHash, err := oldHasher.Hash(ctx, "imported password")
	if err != nil {
		t.Fatal(err)
	}
	for name, stored := range map[string]string{"bcrypt": string(bcryptHash), "argon2id with old parameters": oldHash} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			u := f.addUser(t, identity.User{Email: "alice@example.com", PasswordHash: stored, EmailVerifiedAt: f.clock.Now()}, "")

			if _, err := f.svc.Authenticate(ctx, "alice@example.com", "wrong password"); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Fatalf("Authenticate(wrong password): %v", err)
			}
			if got := f.get(t, u.ID); got.PasswordHash != stored {
				t.Fatal("a failed login replaced the hash")
			}

			f.clock.Advance(time.Minute)
			got, err := f.svc.Authenticate(ctx, "alice@example.com", "imported password")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Errorf("hash after login = %q, want argon2id with the configured parameters", got.PasswordHash)
			}
			if !got.UpdatedAt.Equal(f.clock.Now()) {
				t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, f.clock.Now())
			}
			if stored := f.get(t, u.ID); stored != got {
				t.Errorf("stored %+v, want the returned %+v", stored, got)
			}
			if ok, rehash := verify(t, f.hasher, got.PasswordHash, "imported password"); !ok || rehash {
				t.Errorf("new hash: Verify = %v, %v; want true, false", ok, rehash)
			}

			again, err := f.svc.Authenticate(ctx, "alice@example.com", "imported password")
			if err != nil || again.PasswordHash != got.PasswordHash {
				t.Errorf("second login: %v, hash changed = %v; want no second upgrade", err, again.PasswordHash != got.PasswordHash)
			}
		})
	}
}

func TestLookupAndGet(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := f.addUser(t, identity.User{Email: "alice@example.com", Phone: "+442079460958"}, "")
	for _, login := range []string{"ALICE@example.com", "0044 20 7946 0958"} {
		if got, err := f.svc.Lookup(ctx, login); err != nil || got != u {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", login, got, err, u)
		}
	}
	if _, err := f.svc.Lookup(ctx, "bob@example.com"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Lookup(unknown): %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Lookup(ctx, "bob"); !errors.Is(err, identity.ErrInvalidPhone) {
		t.Errorf("Lookup(bob): %v, want ErrInvalidPhone", err)
	}
	if got, err := f.svc.Get(ctx, u.ID); err != nil || got != u {
		t.Errorf("Get = %+v, %v; want %+v", got, err, u)
	}
	if _, err := f.svc.Get(ctx, newID(t)); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Get(unknown): %v, want ErrNotFound", err)
	}
}

func TestSeedDevelopment(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// An account that exists is left as it is.
	user2 := f.addUser(t, identity.User{Email: "user2@auth1.dev"}, "changed password")

	if err := f.svc.SeedDevelopment(ctx); err != nil {
		t.Fatal(err)
	}
	seeded := map[string]identity.User{}
	for _, c := range []struct{ email, password, name string }{
		{"admin@auth1.dev", "admin123", "Admin"},
		{"user1@auth1.dev", "password123", ""},
		{"user3@auth1.dev", "password123", ""},
	} {
		u, err := f.svc.Authenticate(ctx, c.email, c.password)
		if err != nil {
			t.Fatalf("Authenticate(%s): %v", c.email, err)
		}
		if !u.EmailVerified() || u.Name != c.name {
			t.Errorf("%s: verified %v, name %q; want verified, %q", c.email, u.EmailVerified(), u.Name, c.name)
		}
		seeded[c.email] = u
	}
	if got := f.get(t, user2.ID); got != user2 {
		t.Errorf("seeding changed an existing user: %+v, want %+v", got, user2)
	}

	f.clock.Advance(time.Hour)
	if err := f.svc.SeedDevelopment(ctx); err != nil {
		t.Fatalf("second SeedDevelopment: %v", err)
	}
	for email, want := range seeded {
		if got, err := f.svc.Lookup(ctx, email); err != nil || got != want {
			t.Errorf("after a second seeding %s = %+v, %v; want unchanged %+v", email, got, err, want)
		}
	}
}

func TestLogValuesHideSecrets(t *testing.T) {
	f := newFixture(t)
	in := identity.SignUpInput{Email: "alice@example.com", Password: "hunter2hunter2", Name: "Alice"}
	out := f.signUp(t, in)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signup", "input", in, "outcome", out, "user", out.User)
	for _, secret := range []string{in.Password, out.User.PasswordHash, in.Email} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log %q contains %q", buf.String(), secret)
		}
	}
	if !strings.Contains(buf.String(), out.User.ID) {
		t.Errorf("log %q does not name the user", buf.String())
	}
}
