package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/deploy/migrations"
)

func migrateCommand(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		return errors.New("usage: authd migrate up|status [--config FILE]")
	}
	cfg, err := loadConfig(args[1:], getenv)
	if err != nil {
		return err
	}
	if !cfg.databaseConfigured() {
		return errors.New("no database configured: set database.url (env DATABASE_URL) or database.host")
	}
	conn, err := pgx.Connect(ctx, cfg.databaseURL())
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.Background())
	if args[0] == "up" {
		if err := migrations.Up(ctx, conn); err != nil {
			return err
		}
	}
	st, err := migrations.Check(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d of %d", st.Current, st.Latest)
	if st.Behind() {
		fmt.Fprint(stdout, " (pending: run `authd migrate up`)")
	}
	fmt.Fprintln(stdout)
	return nil
}
