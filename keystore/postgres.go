package keystore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// advisoryLock is the pg_advisory_xact_lock key every keystore write takes
// (UpdateKeys), so instances sharing a database serialise on it. It is
// "authdkey" in ASCII, to be recognisable in pg_locks.
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
	keys, err := listKeys(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// UpdateKeys implements Store: one transaction takes the keystore's advisory
// lock, reads the keys, calls fn and writes the difference. The lock, not
// the transaction's isolation, is what serialises writers: two READ
// COMMITTED transactions could otherwise both read "no key" and each insert
// one under its own kid.
func (s *PostgresStore) UpdateKeys(ctx context.Context, fn func([]StoredKey) ([]StoredKey, error)) error {
	var fnErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryLock); err != nil {
			return fmt.Errorf("take keystore lock: %w", err)
		}
		before, err := listKeys(ctx, tx)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		after, err := fn(cloneStoredKeys(before))
		if err != nil {
			fnErr = err
			return err
		}
		c, err := diffKeys(before, after)
		if err != nil {
			return err
		}
		if c.empty() {
			return nil
		}
		// Keys are few; one batch is one round trip whatever the change.
		var b pgx.Batch
		for _, k := range c.insert {
			b.Queue(`
				INSERT INTO signing_keys (kid, public_key, private_key_enc, created_at, activates_at, retires_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				k.ID, k.PublicKey, k.PrivateSealed, k.CreatedAt, k.ActivatesAt, toNull(k.RetiresAt), toNull(k.ExpiresAt))
		}
		for _, k := range c.update {
			b.Queue(`
				UPDATE signing_keys
				SET public_key = $2, private_key_enc = $3, created_at = $4, activates_at = $5, retires_at = $6, expires_at = $7
				WHERE kid = $1`,
				k.ID, k.PublicKey, k.PrivateSealed, k.CreatedAt, k.ActivatesAt, toNull(k.RetiresAt), toNull(k.ExpiresAt))
		}
		if len(c.remove) > 0 {
			b.Queue(`DELETE FROM signing_keys WHERE kid = ANY($1)`, c.remove)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("update signing keys: %w", err)
	}
	return nil
}

// querier is what listKeys needs: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listKeys(ctx context.Context, q querier) ([]StoredKey, error) {
	rows, err := q.Query(ctx, `
		SELECT kid, public_key, private_key_enc, created_at, activates_at, retires_at, expires_at
		FROM signing_keys
		ORDER BY created_at, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredKey, error) {
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
