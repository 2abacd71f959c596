package identity

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	ErrNotFound = errors.New("identity: not found")
	ErrConflict = errors.New("identity: address already in use")
)

// User is an account. Email is stored normalised (see NormalizeEmail), phone
// in E.164. Stores keep times in UTC to the microsecond, PostgreSQL's
// precision, so every implementation returns the same values.
type User struct {
	ID              string // a UUID (random.UUID)
	Email           string // "" when the account has only a phone
	Phone           string // "" when the account has only an email
	EmailVerifiedAt time.Time
	PhoneVerifiedAt time.Time
	PasswordHash    string // PHC string; "" for passwordless accounts
	Name            string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// EmailVerified reports whether the email address is proven.
func (u *User) EmailVerified() bool { return u.Email != "" && !u.EmailVerifiedAt.IsZero() }

// PhoneVerified reports whether the phone number is proven.
func (u *User) PhoneVerified() bool { return u.Phone != "" && !u.PhoneVerifiedAt.IsZero() }

// Verified reports whether the user has proven at least one address.
func (u *User) Verified() bool { return u.EmailVerified() || u.PhoneVerified() }

// LogValue keeps the password hash, and the addresses (personal data), out
// of logs.
func (u User) LogValue() slog.Value { return slog.GroupValue(slog.String("id", u.ID)) }

// Store persists users. Implementations: memory (embedded default) and
// postgres; both pass identitytest.Run.
type Store interface {
	// CreateUser inserts u. ErrConflict when its email or phone is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail looks up a normalised email, or ErrNotFound.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// GetUserByPhone looks up an E.164 phone, or ErrNotFound.
	GetUserByPhone(ctx context.Context, phone string) (User, error)
	// UpdateUser applies fn to the current user atomically (no lost update
	// under concurrency) and stores the result. fn's error aborts the update
	// and is returned as is. ErrNotFound when there is no such user;
	// ErrConflict when the new email or phone is taken. fn runs while the
	// user is locked: it must not call the Store, and must not change ID.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (User, error)
}

// checkUser enforces in every Store what the users table's CHECK constraint
// enforces in PostgreSQL, so the memory store refuses the same users.
func checkUser(u User) error {
	if u.Email == "" && u.Phone == "" {
		return errors.New("user has neither email nor phone")
	}
	return nil
}

// checkUpdate checks what an UpdateUser fn made of the user with id.
func checkUpdate(id string, u User) error {
	if u.ID != id {
		return errors.New("the id of a user cannot change")
	}
	return checkUser(u)
}

// storedUser returns u as a Store keeps it (see User).
func storedUser(u User) User {
	for _, t := range []*time.Time{&u.EmailVerifiedAt, &u.PhoneVerifiedAt, &u.CreatedAt, &u.UpdatedAt} {
		*t = t.UTC().Truncate(time.Microsecond)
	}
	return u
}
