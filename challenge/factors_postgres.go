package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FactorPostgresStore is the FactorStore on the totp_factors and
// recovery_codes tables (deploy/migrations/004_factors.sql).
//
// Every method is one statement or one transaction. The transactions that
// touch recovery codes first lock the user's totp_factors row, so enabling,
// regenerating and deleting are serialised per user and recovery codes
// never outlive the factor they belong to.
type FactorPostgresStore struct {
	pool *pgxpool.Pool
}

var _ FactorStore = (*FactorPostgresStore)(nil)

// NewFactorPostgresStore returns a FactorStore on pool's database, which
// must be migrated.
func NewFactorPostgresStore(pool *pgxpool.Pool) *FactorPostgresStore {
	return &FactorPostgresStore{pool: pool}
}

// isFactorUserID tells IDs that cannot exist from ones that do not: user_id
// is a uuid column, and a malformed ID is "not found", not a server error.
func isFactorUserID(id string) bool {
	var u pgtype.UUID
	return u.Scan(id) == nil
}

// PutPendingTOTP implements [FactorStore]. The upsert's WHERE leaves an
// enabled factor alone, and no row affected is how that case shows.
func (s *FactorPostgresStore) PutPendingTOTP(ctx context.Context, userID string, sealed []byte, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `
INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE
	SET secret_sealed = EXCLUDED.secret_sealed, last_step = 0, created_at = EXCLUDED.created_at
	WHERE totp_factors.enabled_at IS NULL`, userID, sealed, now)
	if err != nil {
		return fmt.Errorf("challenge: put pending totp: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}

// GetTOTP implements [FactorStore].
func (s *FactorPostgresStore) GetTOTP(ctx context.Context, userID string) (TOTPRecord, error) {
	if !isFactorUserID(userID) {
		return TOTPRecord{}, ErrNotFound
	}
	var (
		r         = TOTPRecord{UserID: userID}
		enabledAt pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT secret_sealed, enabled_at, last_step FROM totp_factors WHERE user_id = $1`, userID).
		Scan(&r.SecretSealed, &enabledAt, &r.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return TOTPRecord{}, ErrNotFound
	}
	if err != nil {
		return TOTPRecord{}, fmt.Errorf("challenge: get totp: %w", err)
	}
	r.EnabledAt = enabledAt.Time // zero when NULL
	return r, nil
}

// EnableTOTP implements [FactorStore].
func (s *FactorPostgresStore) EnableTOTP(ctx context.Context, userID string, sealed []byte, step int64, recoveryHashes [][]byte, now time.Time) error {
	if !isFactorUserID(userID) {
		return ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
UPDATE totp_factors SET enabled_at = $3, last_step = $4
WHERE user_id = $1 AND secret_sealed = $2 AND enabled_at IS NULL`, userID, sealed, now, step)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return replaceRecovery(ctx, tx, userID, recoveryHashes, now)
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("challenge: enable totp: %w", err)
	}
	return nil
}

// AdvanceTOTPStep implements [FactorStore]. Concurrent callers queue on the
// row lock; PostgreSQL re-evaluates the WHERE of each against the row the
// previous one committed, so of several with one step only the first
// matches.
func (s *FactorPostgresStore) AdvanceTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	if !isFactorUserID(userID) {
		return false, nil
	}
	tag, err := s.pool.Exec(ctx, `
UPDATE totp_factors SET last_step = $2
WHERE user_id = $1 AND last_step < $2 AND enabled_at IS NOT NULL`, userID, step)
	if err != nil {
		return false, fmt.Errorf("challenge: advance totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteTOTP implements [FactorStore]. Two statements, factor first: its
// row lock waits for a concurrent enable or regeneration to commit, and the
// second statement, which takes a fresh snapshot, then sees the codes that
// one wrote. One statement with a CTE would share one snapshot and miss them.
func (s *FactorPostgresStore) DeleteTOTP(ctx context.Context, userID string) error {
	if !isFactorUserID(userID) {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM totp_factors WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("challenge: delete totp: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes implements [FactorStore].
func (s *FactorPostgresStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error {
	if !isFactorUserID(userID) {
		return ErrNotFound
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The lock keeps a concurrent DeleteTOTP from slipping in between
		// this check and the insert, which would leave codes behind.
		var one int
		err := tx.QueryRow(ctx, `
SELECT 1 FROM totp_factors WHERE user_id = $1 AND enabled_at IS NOT NULL FOR UPDATE`, userID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return replaceRecovery(ctx, tx, userID, hashes, now)
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("challenge: replace recovery codes: %w", err)
	}
	return nil
}

// replaceRecovery swaps the user's recovery codes inside tx, which must
// hold the lock on the user's totp_factors row.
func replaceRecovery(ctx context.Context, tx pgx.Tx, userID string, hashes [][]byte, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
INSERT INTO recovery_codes (user_id, code_hash, created_at)
SELECT $1, h, $3 FROM unnest($2::bytea[]) AS h
ON CONFLICT DO NOTHING`, userID, hashes, now)
	return err
}

// ConsumeRecoveryCode implements [FactorStore]. Concurrent deletes of one
// row queue on its lock and the losers find it gone, so exactly one sees a
// row affected.
func (s *FactorPostgresStore) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if !isFactorUserID(userID) {
		return false, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("challenge: consume recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CountRecoveryCodes implements [FactorStore].
func (s *FactorPostgresStore) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	if !isFactorUserID(userID) {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("challenge: count recovery codes: %w", err)
	}
	return n, nil
}
