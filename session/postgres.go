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
// Concurrency: callers presenting the same hash all target one
// refresh_tokens row. The first UPDATE locks it; the others wait, and when
// the winner commits PostgreSQL re-evaluates their WHERE against the new row
// version, where rotated_at is no longer NULL. So they match nothing, insert
// nothing and return no row: exactly one succeeds.
//
// If the session is revoked or expired, "consumed" still marks the presented
// token rotated while "advanced" matches nothing, so no successor is issued.
// That mark is harmless: revocation and expiry are final, and the Manager
// checks the session before it looks at rotated_at, so the token can never be
// taken for a replay or for reuse. Avoiding it would cost a join in the hot
// path's first UPDATE.
const rotateSQL = `
WITH consumed AS (
	UPDATE refresh_tokens SET rotated_at = $3
	WHERE token_hash = $1 AND rotated_at IS NULL
	RETURNING session_id, generation
), advanced AS (
	UPDATE sessions s SET generation = consumed.generation + 1, last_used_at = $3
	FROM consumed
	WHERE s.id = consumed.session_id AND s.revoked_at IS NULL AND s.expires_at > $3
	RETURNING ` + sessionColumns + `
), issued AS (
	INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at)
	SELECT $2::bytea, id, generation, $3 FROM advanced
)
SELECT * FROM advanced`

// RotateRefreshToken implements [Store].
func (p *PostgresStore) RotateRefreshToken(ctx context.Context, presented, next []byte, now time.Time) (Session, error) {
	s, err := scanSession(p.pool.QueryRow(ctx, rotateSQL, presented, next, now))
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
func (p *PostgresStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	if !isUUID(userID) {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, `
SELECT `+sessionColumns+` FROM sessions s
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
ORDER BY created_at DESC, id DESC`, userID, now)
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

// DeleteExpired implements [Store]. Tokens go by ON DELETE CASCADE.
func (p *PostgresStore) DeleteExpired(ctx context.Context, cutoff time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
