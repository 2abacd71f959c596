// Package migrations holds authd's PostgreSQL schema as numbered SQL files and
// applies them with tern. The files are embedded in the binary, so
// `authd migrate up` needs nothing on disk.
package migrations

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

const versionTable = "authd_schema_version"

// Status is how far a database's schema is from this binary's.
type Status struct {
	Current int32
	Latest  int32
}

// Behind reports whether migrations are pending.
func (s Status) Behind() bool { return s.Current < s.Latest }

func migrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return nil, fmt.Errorf("create migrator: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return m, nil
}

// Up applies every pending migration. Concurrent callers are serialised by
// tern's advisory lock, so instances starting together are safe.
func Up(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrator(ctx, conn)
	if err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Check reports the schema version of the database against this binary's.
func Check(ctx context.Context, conn *pgx.Conn) (Status, error) {
	m, err := migrator(ctx, conn)
	if err != nil {
		return Status{}, err
	}
	cur, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("read schema version: %w", err)
	}
	return Status{Current: cur, Latest: int32(len(m.Migrations))}, nil
}
