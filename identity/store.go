package identity

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every Store returns, never driver errors.
var (
	ErrNotFound = errors.New("identity: not found")
	ErrConflict = errors.New("identity: address already in use")
)

// User is an account. Email is stored normalised (see NormalizeEmail), phone
// in E.164.
type User struct {
	ID              string
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
	// ErrConflict when the new email or phone is taken.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (User, error)
}
