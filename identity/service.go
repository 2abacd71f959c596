package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/authd/authd/internal/random"
)

// Errors of the Service. They are safe to show a client.
var (
	ErrAddressRequired    = errors.New("identity: exactly one of email and phone is required")
	ErrInvalidCredentials = errors.New("identity: invalid credentials")
	ErrNotVerified        = errors.New("identity: no verified address")
)

// Channel is the kind of address a verification code was sent to.
type Channel string

// Channels.
const (
	ChannelEmail Channel = "email"
	ChannelPhone Channel = "phone"
)

// normalize returns the stored form of an address on c.
func (c Channel) normalize(address string) (string, error) {
	if c == ChannelEmail {
		return NormalizeEmail(address)
	}
	return NormalizePhone(address)
}

// fields returns u's address on c and its verification time, for code
// that works the same on either channel.
func (c Channel) fields(u *User) (address *string, verifiedAt *time.Time, err error) {
	switch c {
	case ChannelEmail:
		return &u.Email, &u.EmailVerifiedAt, nil
	case ChannelPhone:
		return &u.Phone, &u.PhoneVerifiedAt, nil
	}
	return nil, nil, fmt.Errorf("unknown channel %q", string(c))
}

// Service is signup, verification state and password login on a Store.
type Service struct {
	store  Store
	hasher *Hasher
	policy Policy
	now    func() time.Time
	rand   io.Reader
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now, so tests control the times stored.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRandom replaces the source of user ids (random.Reader by default).
func WithRandom(r io.Reader) Option { return func(s *Service) { s.rand = r } }

// NewService returns a Service that keeps users in store, hashes passwords
// with hasher and accepts new passwords that satisfy policy.
func NewService(store Store, hasher *Hasher, policy Policy, opts ...Option) *Service {
	s := &Service{store: store, hasher: hasher, policy: policy, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SignUpInput is a signup request: exactly one of Email and Phone.
type SignUpInput struct {
	Email    string
	Phone    string
	Password string
	Name     string
}

// LogValue keeps the password, and the addresses with it, out of logs.
func (SignUpInput) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// SignUpOutcome tells the caller what to send. Created or neither flag: a
// verification code, whose CompleteSignUp activates the password this
// request set. AlreadyVerified: a notice to the owner; nothing was changed.
// The answer to the client must be the same in all three cases.
type SignUpOutcome struct {
	User            User
	Created         bool
	AlreadyVerified bool
}

// LogValue logs the user's id and the flags only: no address, no password
// hash.
func (o SignUpOutcome) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user_id", o.User.ID),
		slog.Bool("created", o.Created), slog.Bool("already_verified", o.AlreadyVerified))
}

// SignUp registers a new, unverified account, or finds the one that holds
// the address. Every refusal (ErrAddressRequired, ErrInvalidEmail,
// ErrInvalidPhone, *PolicyError) comes before the address is looked up, and
// the password is hashed whether or not the address is known, so neither
// the answer nor its timing tells whether an account exists.
//
// While an account has no verified address the latest signup wins: it
// replaces the stored password hash, and the name if it gives one (see
// resignUp). An account that has any verified address counts as
// AlreadyVerified and is left as it is: a signup must never become a way
// to set the password of a live account.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (SignUpOutcome, error) {
	channel, address, err := signUpAddress(in)
	if err != nil {
		return SignUpOutcome{}, err
	}
	if err := s.policy.Check(in.Password); err != nil {
		return SignUpOutcome{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return SignUpOutcome{}, fmt.Errorf("sign up: %w", err)
	}
	name := strings.TrimSpace(in.Name)
	u, err := s.getByAddress(ctx, channel, address)
	if errors.Is(err, ErrNotFound) {
		u, err = s.newUser(channel, address, name, hash)
		if err == nil {
			err = s.store.CreateUser(ctx, u)
		}
		if err == nil {
			return SignUpOutcome{User: u, Created: true}, nil
		}
		if errors.Is(err, ErrConflict) {
			// A concurrent signup took the address: answer as if it had
			// come first.
			u, err = s.getByAddress(ctx, channel, address)
		}
	}
	if err != nil {
		return SignUpOutcome{}, fmt.Errorf("sign up: %w", err)
	}
	if u.Verified() {
		return SignUpOutcome{User: u, AlreadyVerified: true}, nil
	}
	out, err := s.resignUp(ctx, u.ID, name, hash)
	if err != nil {
		return SignUpOutcome{}, fmt.Errorf("sign up: %w", err)
	}
	return out, nil
}

// errVerified aborts resignUp's update: the account became verified after
// SignUp read it.
var errVerified = errors.New("account is verified")

// resignUp gives the unverified account id the password hash of a new
// signup, and its name unless that is "". If the account has become
// verified meanwhile it changes nothing and answers AlreadyVerified.
//
// Letting the latest signup win defeats pre-registration hijacking: an
// attacker who signed up with the victim's address before the victim did
// loses their password as soon as the victim signs up, so the victim's
// verification activates the victim's password, whichever code (a resent
// one included) it uses. The residual risk is an attacker signing up again
// inside the victim's own verification window, after the victim: that
// signup sends a code to the victim's address, and if the victim enters
// it, the attacker's password becomes live.
func (s *Service) resignUp(ctx context.Context, id, name, passwordHash string) (SignUpOutcome, error) {
	var current User
	u, err := s.store.UpdateUser(ctx, id, func(u *User) error {
		if u.Verified() {
			current = *u
			return errVerified
		}
		u.PasswordHash = passwordHash
		if name != "" {
			u.Name = name
		}
		u.UpdatedAt = s.now()
		return nil
	})
	switch {
	case errors.Is(err, errVerified):
		return SignUpOutcome{User: current, AlreadyVerified: true}, nil
	case err != nil:
		return SignUpOutcome{}, err
	}
	return SignUpOutcome{User: u}, nil
}

func signUpAddress(in SignUpInput) (Channel, string, error) {
	var (
		channel Channel
		raw     string
	)
	switch {
	case in.Email != "" && in.Phone == "":
		channel, raw = ChannelEmail, in.Email
	case in.Phone != "" && in.Email == "":
		channel, raw = ChannelPhone, in.Phone
	default:
		return "", "", ErrAddressRequired
	}
	address, err := channel.normalize(raw)
	return channel, address, err
}

// CompleteSignUp records that the user proved the address on channel,
// keeping the first verification time. It changes no password: the one
// stored is that of the latest signup (see SignUp), whichever code was
// entered. Refused when the user has no address on channel; ErrNotFound
// when there is no such user.
func (s *Service) CompleteSignUp(ctx context.Context, userID string, channel Channel) (User, error) {
	u, err := s.store.UpdateUser(ctx, userID, func(u *User) error {
		address, verifiedAt, err := channel.fields(u)
		if err != nil {
			return err
		}
		if *address == "" {
			return fmt.Errorf("user has no %s address", channel)
		}
		now := s.now()
		if verifiedAt.IsZero() {
			*verifiedAt = now
		}
		u.UpdatedAt = now
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("complete sign-up: %w", err)
	}
	return u, nil
}

// Authenticate checks a password login. login is an email (it contains
// '@') or a phone number. An unknown login and a wrong password are both
// ErrInvalidCredentials and take as long as each other; ErrNotVerified is
// only told to someone who knows the password. A hash with outdated
// parameters, or an imported bcrypt hash, is replaced on success.
func (s *Service) Authenticate(ctx context.Context, login, password string) (User, error) {
	u, err := s.Lookup(ctx, login)
	if errors.Is(err, ErrNotFound) || (err == nil && u.PasswordHash == "") {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return User{}, fmt.Errorf("authenticate: %w", err)
		}
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	ok, needsRehash, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	switch {
	case err != nil:
		return User{}, fmt.Errorf("authenticate user %s: %w", u.ID, err)
	case !ok:
		return User{}, ErrInvalidCredentials
	case !u.Verified():
		return User{}, ErrNotVerified
	case !needsRehash:
		return u, nil
	}
	rehashed, err := s.rehash(ctx, u, password)
	if err != nil {
		return User{}, fmt.Errorf("authenticate user %s: upgrade password hash: %w", u.ID, err)
	}
	return rehashed, nil
}

// rehash replaces u's password hash with one of the configured kind,
// unless the password changed since u was read.
func (s *Service) rehash(ctx context.Context, u User, password string) (User, error) {
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	return s.store.UpdateUser(ctx, u.ID, func(cur *User) error {
		if cur.PasswordHash == u.PasswordHash {
			cur.PasswordHash = hash
			cur.UpdatedAt = s.now()
		}
		return nil
	})
}

// Lookup returns the user whose email or phone login is (see
// Authenticate): ErrInvalidEmail or ErrInvalidPhone when login is neither,
// ErrNotFound when no user has it.
func (s *Service) Lookup(ctx context.Context, login string) (User, error) {
	channel := ChannelPhone
	if strings.Contains(login, "@") {
		channel = ChannelEmail
	}
	address, err := channel.normalize(login)
	if err != nil {
		return User{}, err
	}
	return s.getByAddress(ctx, channel, address)
}

// Get returns the user with id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (User, error) {
	return s.store.GetUser(ctx, id)
}

func (s *Service) getByAddress(ctx context.Context, channel Channel, address string) (User, error) {
	if channel == ChannelEmail {
		return s.store.GetUserByEmail(ctx, address)
	}
	return s.store.GetUserByPhone(ctx, address)
}

// newUser returns an unverified user with a fresh id, as the store will
// keep it.
func (s *Service) newUser(channel Channel, address, name, passwordHash string) (User, error) {
	id, err := random.UUID(s.rand)
	if err != nil {
		return User{}, fmt.Errorf("new user id: %w", err)
	}
	now := s.now()
	u := User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
	field, _, err := channel.fields(&u)
	if err != nil {
		return User{}, err
	}
	*field = address
	return storedUser(u), nil
}
