package delivery

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

// PostgresStore is the Store on the outbox_messages table
// (deploy/migrations/005_outbox.sql). Every method is one statement.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool's database, which must be
// migrated.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

// rowColumns is the column order of scanRow.
const rowColumns = `id, channel, recipient, template, locale, variables_sealed, status, attempts,
	next_attempt_at, last_error, created_at, updated_at, sent_at`

func scanRow(row pgx.Row) (Row, error) {
	var (
		r      Row
		sentAt pgtype.Timestamptz
	)
	err := row.Scan(&r.ID, &r.Channel, &r.Recipient, &r.Template, &r.Locale, &r.VariablesSealed, &r.Status,
		&r.Attempts, &r.NextAttemptAt, &r.LastError, &r.CreatedAt, &r.UpdatedAt, &sentAt)
	r.SentAt = sentAt.Time // zero when NULL
	return r, err
}

// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint.
const uniqueViolation = "23505"

// Enqueue implements [Store].
func (s *PostgresStore) Enqueue(ctx context.Context, r Row) error {
	if err := checkEnqueue(r); err != nil {
		return fmt.Errorf("delivery: enqueue: %w", err)
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO outbox_messages (id, channel, recipient, template, locale, variables_sealed, status, attempts,
	next_attempt_at, last_error, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11)`,
		r.ID, r.Channel, r.Recipient, r.Template, r.Locale, r.VariablesSealed, r.Status,
		r.NextAttemptAt, r.LastError, r.CreatedAt, r.UpdatedAt)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("delivery: enqueue: %w", err)
	}
	return nil
}

// claimSQL locks due rows with SKIP LOCKED, so concurrent claims each take
// rows no other claim holds instead of queueing behind one another, and
// updates them in the same statement. The CTE is MATERIALIZED so the
// locking SELECT runs exactly once: written as "WHERE id IN (SELECT …
// LIMIT n FOR UPDATE SKIP LOCKED)" the planner may rescan the subquery, and
// a rescan under SKIP LOCKED can return other rows, claiming more than n.
// A row another claim committed meanwhile is rechecked against the WHERE
// when locked, and its pushed-back next_attempt_at excludes it. due_id
// keeps RETURNING's column names unambiguous.
const claimSQL = `
WITH due AS MATERIALIZED (
	SELECT id AS due_id FROM outbox_messages
	WHERE status = 'pending' AND next_attempt_at <= $1
	ORDER BY next_attempt_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
)
UPDATE outbox_messages o SET attempts = o.attempts + 1, next_attempt_at = $3, updated_at = $1
FROM due WHERE o.id = due.due_id
RETURNING ` + rowColumns

// Claim implements [Store].
func (s *PostgresStore) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Row, error) {
	if limit < 1 || lease <= 0 {
		return nil, fmt.Errorf("delivery: claim: limit %d and lease %v must be positive", limit, lease)
	}
	rows, err := s.pool.Query(ctx, claimSQL, now, limit, now.Add(lease))
	if err != nil {
		return nil, fmt.Errorf("delivery: claim: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) { return scanRow(r) })
	if err != nil {
		return nil, fmt.Errorf("delivery: claim: %w", err)
	}
	return claimed, nil
}

// MarkSent implements [Store].
func (s *PostgresStore) MarkSent(ctx context.Context, id string, now time.Time) error {
	return s.mark(ctx, "mark sent", id, `
UPDATE outbox_messages SET status = 'sent', sent_at = $2, variables_sealed = NULL, updated_at = $2
WHERE id = $1 AND status = 'pending'`, now)
}

// MarkRetry implements [Store].
func (s *PostgresStore) MarkRetry(ctx context.Context, id string, attempt int, next time.Time, lastError string, now time.Time) error {
	return s.mark(ctx, "mark retry", id, `
UPDATE outbox_messages SET next_attempt_at = $3, last_error = $4, updated_at = $5
WHERE id = $1 AND status = 'pending' AND attempts = $2`, attempt, next, lastError, now)
}

// MarkAbandoned implements [Store].
func (s *PostgresStore) MarkAbandoned(ctx context.Context, id string, attempt int, lastError string, now time.Time) error {
	return s.mark(ctx, "mark abandoned", id, `
UPDATE outbox_messages SET status = 'abandoned', last_error = $3, updated_at = $4
WHERE id = $1 AND status = 'pending' AND attempts = $2`, attempt, lastError, now)
}

// mark runs an update of the row id ($1) that matches nothing unless the
// caller still holds it.
func (s *PostgresStore) mark(ctx context.Context, op, id, sql string, args ...any) error {
	id = canonicalID(id)
	if id == "" {
		return ErrLeaseLost
	}
	tag, err := s.pool.Exec(ctx, sql, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("delivery: %s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// List implements [Store].
func (s *PostgresStore) List(ctx context.Context, status Status, limit int) ([]Row, error) {
	if err := checkList(status, limit); err != nil {
		return nil, fmt.Errorf("delivery: list: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+rowColumns+` FROM outbox_messages
WHERE $1 = '' OR status = $1 ORDER BY created_at, id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("delivery: list: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) { return scanRow(r) })
	if err != nil {
		return nil, fmt.Errorf("delivery: list: %w", err)
	}
	return list, nil
}

// Retry implements [Store].
func (s *PostgresStore) Retry(ctx context.Context, ids []string, now time.Time) (int, error) {
	const set = `UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 `
	var (
		tag pgconn.CommandTag
		err error
	)
	if len(ids) == 0 {
		tag, err = s.pool.Exec(ctx, set+`WHERE status = 'abandoned'`, now)
	} else {
		valid := make([]string, 0, len(ids))
		for _, id := range ids {
			if id = canonicalID(id); id != "" {
				valid = append(valid, id)
			}
		}
		tag, err = s.pool.Exec(ctx, set+`WHERE id = ANY($2::uuid[]) AND status IN ('pending', 'abandoned')`, now, valid)
	}
	if err != nil {
		return 0, fmt.Errorf("delivery: retry: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Purge implements [Store].
func (s *PostgresStore) Purge(ctx context.Context, status Status, before time.Time) (int, error) {
	if err := checkPurge(status); err != nil {
		return 0, fmt.Errorf("delivery: purge: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbox_messages WHERE status = $1 AND updated_at < $2`, status, before)
	if err != nil {
		return 0, fmt.Errorf("delivery: purge: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Stats implements [Store]. The age is computed from now, not the
// database's clock, so it follows the caller's clock as in MemoryStore.
func (s *PostgresStore) Stats(ctx context.Context, now time.Time) (Stats, error) {
	var (
		st     Stats
		oldest pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE status = 'pending'),
	count(*) FILTER (WHERE status = 'abandoned'),
	min(created_at) FILTER (WHERE status = 'pending')
FROM outbox_messages WHERE status IN ('pending', 'abandoned')`).Scan(&st.Pending, &st.Abandoned, &oldest)
	if err != nil {
		return Stats{}, fmt.Errorf("delivery: stats: %w", err)
	}
	if oldest.Valid {
		st.OldestPendingAge = max(now.Sub(oldest.Time), 0)
	}
	return st, nil
}
