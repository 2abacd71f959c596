package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore is the Store on the users table (deploy/migrations).
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool's database, which must be
// migrated.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

// userColumns is the column order of scanUser and userArgs.
const userColumns = `id, email, phone, email_verified_at, phone_verified_at, password_hash, name, created_at, updated_at`

// CreateUser implements Store.
func (s *PostgresStore) CreateUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, userArgs(u)...)
	if err != nil {
		return fmt.Errorf("create user: %w", storeError(err))
	}
	return nil
}

// GetUser implements Store.
func (s *PostgresStore) GetUser(ctx context.Context, id string) (User, error) {
	uuid, ok := parseUUID(id)
	if !ok {
		return User{}, fmt.Errorf("get user: %w", ErrNotFound)
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, uuid))
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", storeError(err))
	}
	return u, nil
}

// GetUserByEmail implements Store.
func (s *PostgresStore) GetUserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if err != nil {
		return User{}, fmt.Errorf("get user by email: %w", storeError(err))
	}
	return u, nil
}

// GetUserByPhone implements Store.
func (s *PostgresStore) GetUserByPhone(ctx context.Context, phone string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE phone = $1`, phone))
	if err != nil {
		return User{}, fmt.Errorf("get user by phone: %w", storeError(err))
	}
	return u, nil
}

// UpdateUser implements Store. The row lock taken by SELECT … FOR UPDATE
// serialises concurrent updates of one user, so none is lost.
func (s *PostgresStore) UpdateUser(ctx context.Context, id string, fn func(*User) error) (User, error) {
	uuid, ok := parseUUID(id)
	if !ok {
		return User{}, fmt.Errorf("update user: %w", ErrNotFound)
	}
	var (
		updated User
		fnErr   error
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, uuid))
		if err != nil {
			return err
		}
		if fnErr = fn(&u); fnErr != nil {
			return fnErr
		}
		if err := checkUpdate(id, u); err != nil {
			return err
		}
		u = storedUser(u)
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, phone = $3, email_verified_at = $4, phone_verified_at = $5,
			password_hash = $6, name = $7, created_at = $8, updated_at = $9 WHERE id = $1`, userArgs(u)...)
		updated = u
		return err
	})
	switch {
	case fnErr != nil:
		return User{}, fnErr
	case err != nil:
		return User{}, fmt.Errorf("update user: %w", storeError(err))
	}
	return updated, nil
}

// parseUUID reads id the way pgx would encode it, so an id that cannot be
// a user's is simply not found instead of failing the query.
func parseUUID(id string) (pgtype.UUID, bool) {
	var u pgtype.UUID
	return u, u.Scan(id) == nil
}

func scanUser(row pgx.Row) (User, error) {
	var (
		u                                User
		email, phone, hash               pgtype.Text // NULL reads as ""
		emailVerifiedAt, phoneVerifiedAt pgtype.Timestamptz
	)
	err := row.Scan(&u.ID, &email, &phone, &emailVerifiedAt, &phoneVerifiedAt, &hash, &u.Name, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return User{}, err
	}
	u.Email, u.Phone, u.PasswordHash = email.String, phone.String, hash.String
	u.EmailVerifiedAt, u.PhoneVerifiedAt = emailVerifiedAt.Time, phoneVerifiedAt.Time
	return storedUser(u), nil
}

// userArgs are u's columns in userColumns order; "" and the zero time are
// stored as NULL.
func userArgs(u User) []any {
	return []any{
		u.ID, nullText(u.Email), nullText(u.Phone),
		nullTime(u.EmailVerifiedAt), nullTime(u.PhoneVerifiedAt), nullText(u.PasswordHash),
		u.Name, u.CreatedAt, u.UpdatedAt,
	}
}

func nullText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func nullTime(t time.Time) pgtype.Timestamptz { return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()} }

// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint.
const uniqueViolation = "23505"

// storeError turns the driver errors that have a meaning for callers into
// the Store's sentinels.
func storeError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == uniqueViolation:
		return ErrConflict
	}
	return err
}
