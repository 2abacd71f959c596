// Package testenv gives tests the real PostgreSQL and Redis that .ci/run (or
// a developer, with .ci/services.sh) started.
//
// AUTHD_TEST_DATABASE_URL names a PostgreSQL server where the tests may create
// databases; AUTHD_TEST_REDIS_URL names a Redis. When a variable is unset the
// tests that need it are skipped, except under CI=true, where a missing
// service fails the test: integration tests must never silently not run.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/authd/authd/deploy/migrations"
	"github.com/authd/authd/internal/random"
)

const (
	databaseEnv = "AUTHD_TEST_DATABASE_URL"
	redisEnv    = "AUTHD_TEST_REDIS_URL"
)

func require(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the integration tests (see .ci/run)", env)
	}
	t.Skipf("%s not set; start services with: eval \"$(bash .ci/services.sh)\"", env)
	return ""
}

// PostgresURL creates a fresh, migrated database for this test, dropped when
// the test ends, and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	dbURL := EmptyPostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mc, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	defer mc.Close(ctx)
	if err := migrations.Up(ctx, mc); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return dbURL
}

// EmptyPostgresURL creates a fresh database without any schema, dropped when
// the test ends, and returns its URL.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	admin := require(t, databaseEnv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	suffix, err := random.Token(nil, 6)
	if err != nil {
		t.Fatal(err)
	}
	name := "authd_test_" + strings.ToLower(strings.NewReplacer("-", "_").Replace(suffix))
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", databaseEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", databaseEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Postgres returns a pool on a fresh, migrated database (see PostgresURL),
// with enough connections that concurrency tests really contend for rows
// instead of queueing for connections.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(PostgresURL(t))
	if err != nil {
		t.Fatalf("parse test database URL: %v", err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// RedisURL returns the URL of the test Redis.
func RedisURL(t testing.TB) string {
	t.Helper()
	return require(t, redisEnv)
}

// Redis returns a client of the test Redis and a key prefix unique to this
// test, so tests never see each other's keys.
func Redis(t testing.TB) (rueidis.Client, string) {
	t.Helper()
	opt, err := rueidis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", redisEnv, err)
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("connect to redis: %v", err)
	}
	t.Cleanup(client.Close)
	return client, Prefix(t)
}

// Prefix returns a Redis key prefix unique to this test.
func Prefix(t testing.TB) string {
	t.Helper()
	s, err := random.Token(nil, 6)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("authd-test-%s:", s)
}
