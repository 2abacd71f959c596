package challenge_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/factorstest"
	"github.com/authd/authd/internal/testenv"
)

func TestFactorMemoryStore(t *testing.T) {
	factorstest.Run(t, func(*testing.T) challenge.FactorStore { return challenge.NewFactorMemoryStore() })
}

func TestFactorPostgresStore(t *testing.T) {
	factorstest.Run(t, func(t *testing.T) challenge.FactorStore { return challenge.NewFactorPostgresStore(factorPool(t)) })
}

// factorPool is a pool on a fresh, migrated database with enough
// connections that the parallel tests really contend for rows instead of
// queueing for connections.
func factorPool(t *testing.T) *pgxpool.Pool {
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
