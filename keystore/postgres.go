package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// advisoryLock is the pg_advisory_xact_lock key every keystore write that
// must happen once takes (the first key now; rotation later), so instances
// sharing a database serialise on it. It is "authdkey" in ASCII, to be
// recognisable in pg_locks.
const advisoryLock int64 = 0x61757468646b6579

// PostgresStore keeps signing keys in the signing_keys table.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool, whose database must be migrated.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

// ListKeys implements Store.
func (s *PostgresStore) ListKeys(ctx context.Context) ([]StoredKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT kid, public_key, private_key_enc, created_at, activates_at, retires_at, expires_at
		FROM signing_keys
		ORDER BY created_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredKey, error) {
		var (
			k                  StoredKey
			retires, expires   *time.Time
			created, activates time.Time
		)
		if err := row.Scan(&k.ID, &k.PublicKey, &k.PrivateSealed, &created, &activates, &retires, &expires); err != nil {
			return StoredKey{}, err
		}
		k.CreatedAt = created.UTC()
		k.ActivatesAt = activates.UTC()
		k.RetiresAt = fromNull(retires)
		k.ExpiresAt = fromNull(expires)
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// InsertFirstKey implements Store. The check for an empty table and the
// insert run under the keystore's advisory lock: without it, two instances
// could both see no key and insert one each under different kids.
func (s *PostgresStore) InsertFirstKey(ctx context.Context, k StoredKey) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLock); err != nil {
			return fmt.Errorf("take keystore lock: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys)`).Scan(&exists); err != nil {
			return fmt.Errorf("check for keys: %w", err)
		}
		if exists {
			return ErrConflict
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO signing_keys (kid, public_key, private_key_enc, created_at, activates_at, retires_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.PublicKey, k.PrivateSealed, k.CreatedAt, k.ActivatesAt, toNull(k.RetiresAt), toNull(k.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrConflict):
		return ErrConflict
	case err != nil:
		return fmt.Errorf("insert first signing key %s: %w", k.ID, err)
	}
	return nil
}

// toNull maps the zero time, meaning "never", to SQL NULL.
func toNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
