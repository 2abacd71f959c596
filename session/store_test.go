package session_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return session.NewMemoryStore() })
}

func TestPostgresStore(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return session.NewPostgresStore(postgresPool(t)) })
}

// postgresPool is a pool on a fresh database with enough connections that
// the parallel tests really contend for rows instead of queueing for
// connections.
func postgresPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
