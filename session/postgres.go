package session

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

// PostgresStore is the Store on the sessions and refresh_tokens tables
// (deploy/migrations/002_sessions.sql).
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	return &PostgresStore{pool: pool}
}

// sessionColumns is the column list scanSession reads, in its order, of
// sessions aliased s.
const sessionColumns = `s.id, s.user_id, s.client_id, s.scope, s.amr, s.auth_time, s.generation,
	s.user_agent, s.ip, s.created_at, s.last_used_at, s.expires_at, s.revoked_at,
	COALESCE(s.revoked_reason, '')`

// sessionDest returns scan destinations for sessionColumns into s.
func sessionDest(s *Session) []any {
	return []any{&s.ID, &s.UserID, &s.ClientID, &s.Scope, &s.AMR, &s.AuthTime, &s.Generation,
		&s.UserAgent, &s.IP, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, nullTime{&s.RevokedAt}, &s.RevokedReason}
}

func scanSession(row pgx.Row) (Session, error) {
	var s Session
	err := row.Scan(sessionDest(&s)...)
	return s, err
}

// nullTime maps SQL NULL to the zero time.Time and back, which is how
// Session and RefreshToken say "not yet".
type nullTime struct{ t *time.Time }

func (n nullTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*n.t = time.Time{}
	if v.Valid {
		*n.t = v.Time
	}
	return nil
}

func (n nullTime) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: *n.t, Valid: !n.t.IsZero()}, nil
}

// isUUID tells ids that cannot exist from ones that do not: the columns are
// uuid, and a malformed id from a client is "not found", not a server error.
func isUUID(s string) bool {
	var u pgtype.UUID
	return u.Scan(s) == nil
}

// storeErr turns a failed query's error into the Store's sentinels.
func storeErr(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23505" { // unique_violation
		return ErrConflict
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateSession implements [Store]. One statement, so a conflict on either
// table leaves nothing behind.
func (p *PostgresStore) CreateSession(ctx context.Context, s Session, tokenHash []byte) error {
	_, err := p.pool.Exec(ctx, `
WITH s AS (
	INSERT INTO sessions (id, user_id, client_id, scope, amr, auth_time, generation,
		user_agent, ip, created_at, last_used_at, expires_at, revoked_at, revoked_reason)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULLIF($14, ''))
	RETURNING id, generation, created_at
)
INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at)
SELECT $15::bytea, id, generation, created_at FROM s`,
		s.ID, s.UserID, s.ClientID, s.Scope, s.AMR, s.AuthTime, s.Generation,
		s.UserAgent, s.IP, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, nullTime{&s.RevokedAt}, s.RevokedReason,
		tokenHash)
	if err != nil {
		return storeErr("create session", err)
	}
	return nil
}

// rotateSQL consumes the presented token and issues its successor in one
// statement, so the refresh grant costs one round trip.
//
// "consumed" joins the session, so a token is consumed only if its session
// is active and is the presenting client's ($4): a token presented by
// another client, or of a revoked, expired or idle session, is left as it
// was. $5 is the idle bound: the session must have been used after it
// (-infinity without an idle timeout).
//
// Concurrency: callers presenting the same hash all target one
// refresh_tokens row. The first UPDATE locks it; the others wait, and when
// the winner commits PostgreSQL re-evaluates their WHERE against the new row
// version, where rotated_at is no longer NULL. So they match nothing, insert
// nothing and return no row: exactly one succeeds.
//
// The session row is only read by "consumed", not locked, so "advanced"
// checks revoked_at again: it does lock the row and sees the latest
// version, so a revocation committed since this statement's snapshot
// stops the rotation. The presented token then stays marked rotated, which
// is harmless as revocation is final. The other conditions need no second
// look: client_id and expires_at never change, and last_used_at only moves
// forward.
const rotateSQL = `
WITH consumed AS (
	UPDATE refresh_tokens rt SET rotated_at = $3
	FROM sessions s
	WHERE rt.token_hash = $1 AND rt.rotated_at IS NULL
		AND s.id = rt.session_id AND s.revoked_at IS NULL AND s.expires_at > $3
		AND s.client_id = $4 AND s.last_used_at > $5
	RETURNING rt.session_id, rt.generation
), advanced AS (
	UPDATE sessions s SET generation = consumed.generation + 1, last_used_at = $3
	FROM consumed
	WHERE s.id = consumed.session_id AND s.revoked_at IS NULL
	RETURNING ` + sessionColumns + `
), issued AS (
	INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at)
	SELECT $2::bytea, id, generation, $3 FROM advanced
)
SELECT * FROM advanced`

// idleBound is the last_used_at a session must be after to count as used
// recently at t: t-idle, or -infinity when idle is not positive (no idle
// timeout), which keeps one SQL text for both cases.
func idleBound(t time.Time, idle time.Duration) pgtype.Timestamptz {
	if idle <= 0 {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t.Add(-idle), Valid: true}
}

// RotateRefreshToken implements [Store].
func (p *PostgresStore) RotateRefreshToken(ctx context.Context, presented, next []byte, clientID string, now time.Time, idle time.Duration) (Session, error) {
	s, err := scanSession(p.pool.QueryRow(ctx, rotateSQL, presented, next, now, clientID, idleBound(now, idle)))
	if err != nil {
		return Session{}, storeErr("rotate refresh token", err)
	}
	return s, nil
}

// GetRefreshToken implements [Store].
func (p *PostgresStore) GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, Session, error) {
	var (
		t RefreshToken
		s Session
	)
	dest := append([]any{&t.Hash, &t.SessionID, &t.Generation, &t.CreatedAt, nullTime{&t.RotatedAt}}, sessionDest(&s)...)
	err := p.pool.QueryRow(ctx, `
SELECT t.token_hash, t.session_id, t.generation, t.created_at, t.rotated_at, `+sessionColumns+`
FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
WHERE t.token_hash = $1`, hash).Scan(dest...)
	if err != nil {
		return RefreshToken{}, Session{}, storeErr("get refresh token", err)
	}
	return t, s, nil
}

// GetSession implements [Store].
func (p *PostgresStore) GetSession(ctx context.Context, id string) (Session, error) {
	if !isUUID(id) {
		return Session{}, ErrNotFound
	}
	s, err := scanSession(p.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE id = $1`, id))
	if err != nil {
		return Session{}, storeErr("get session", err)
	}
	return s, nil
}

// ListSessions implements [Store].
func (p *PostgresStore) ListSessions(ctx context.Context, userID string, now time.Time, idle time.Duration) ([]Session, error) {
	if !isUUID(userID) {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, `
SELECT `+sessionColumns+` FROM sessions s
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_used_at > $3
ORDER BY created_at DESC, id DESC`, userID, now, idleBound(now, idle))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Session, error) { return scanSession(r) })
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return ss, nil
}

// RevokeSession implements [Store]. The SET keeps the first revocation
// rather than the WHERE, so that a revoked session still counts as found; a
// concurrent revoke that wins is seen, as PostgreSQL re-evaluates SET on the
// latest row version.
func (p *PostgresStore) RevokeSession(ctx context.Context, id, reason string, now time.Time) error {
	if !isUUID(id) {
		return ErrNotFound
	}
	tag, err := p.pool.Exec(ctx, `
UPDATE sessions SET
	revoked_at = COALESCE(revoked_at, $2),
	revoked_reason = CASE WHEN revoked_at IS NULL THEN $3 ELSE revoked_reason END
WHERE id = $1`, id, now, reason)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// cleanupLock is the pg_try_advisory_xact_lock key of session clean-up. It
// is "authdses" in ASCII, to be recognisable in pg_locks, and differs from
// the keystore's "authdkey".
const cleanupLock int64 = 0x6175746864736573

// deleteExpiredSQL deletes one batch: $1 is the cutoff, $2 the idle bound
// at the cutoff (see idleBound), $3 the batch size. Tokens go by ON DELETE
// CASCADE, so a batch also removes every token its sessions ever had.
//
// It runs as a sequential scan, which LIMIT stops once a batch is found.
// The idle condition is on last_used_at, which every refresh writes: an
// index on it would cost each refresh its HOT update (new entries in every
// index of sessions), the hot path paying for a background job. As that
// condition needs the scan anyway, revoked_at shares it and needs no index
// of its own. The table holds sessions only until they end plus the
// retention, so a scan per batch is cheap next to that.
const deleteExpiredSQL = `
DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions
	WHERE expires_at < $1 OR revoked_at < $1 OR last_used_at < $2
	LIMIT $3
)`

// DeleteExpired implements [Store].
//
// One instance at a time: each batch is a transaction that first takes
// pg_try_advisory_xact_lock and returns [ErrBusy] without deleting if
// another instance holds it. The lock lives exactly as long as the batch's
// transaction, so no transaction spans more than one batch, no lock is held
// between batches or outlives a crashed instance, and it works behind a
// transaction-pooling PgBouncer, where a session-level lock on a pooled
// connection would not. The price is that two instances may hand a pass
// over between batches; they still never delete at the same moment, and
// the rows deleted add up the same.
func (p *PostgresStore) DeleteExpired(ctx context.Context, cutoff time.Time, idle time.Duration, limit int) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, cleanupLock).Scan(&locked); err != nil {
			return fmt.Errorf("take lock: %w", err)
		}
		if !locked {
			return ErrBusy
		}
		tag, err := tx.Exec(ctx, deleteExpiredSQL, cutoff, idleBound(cutoff, idle), limit)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(n), nil
}
