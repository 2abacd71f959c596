package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/authd/authd/internal/testenv"
)

// TestMigrations: outside development serve refuses a schema that is
// behind; `authd migrate up` brings it up; `migrate status` reports it.
func TestMigrations(t *testing.T) {
	dbURL := testenv.EmptyPostgresURL(t)
	env := map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": testenv.RedisURL(t), "REDIS_PREFIX": testenv.Prefix(t),
		"APP_ENVIRONMENT": "staging", "APP_SECRET": strings.Repeat("k", 40),
		"KEYS_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "status"}, &out, envOf(env)); err != nil || !strings.Contains(out.String(), "schema version 0 of") {
		t.Fatalf("status on empty database: %v %q", err, out.String())
	}
	cfg, err := loadConfig(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	err = serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "authd migrate up") {
		t.Fatalf("serve on an unmigrated database: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "up"}, &out, envOf(env)); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	if s := out.String(); !strings.Contains(s, "schema version") || strings.Contains(s, "pending") {
		t.Fatalf("after up: %q", s)
	}
	// Idempotent.
	if err := run(ctx, []string{"migrate", "up"}, io.Discard, envOf(env)); err != nil {
		t.Fatalf("second migrate up: %v", err)
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, envOf(nil)); err != nil || !strings.HasPrefix(out.String(), "authd ") {
		t.Fatalf("%v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, envOf(nil)); err == nil {
		t.Fatal("unknown command accepted")
	}
}
