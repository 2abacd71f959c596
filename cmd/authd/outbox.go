package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd/challenge/delivery"
)

const outboxUsage = `usage: authd outbox list [pending|sent|abandoned]
       authd outbox retry [ID ...]          (no ID: every abandoned message)
       authd outbox purge sent|abandoned [AGE]  (default AGE 168h)
each followed by [--config FILE] [--key=value ...]`

// splitArgs separates the positional arguments of a subcommand from the
// configuration flags after them.
func splitArgs(args []string) (positional, flags []string) {
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			return positional, args[i:]
		}
		positional = append(positional, args[i])
	}
	return positional, nil
}

// outboxCommand runs `authd outbox …` on the durable outbox in PostgreSQL.
func outboxCommand(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	pos, flags := splitArgs(args)
	if len(pos) == 0 {
		return errors.New(outboxUsage)
	}
	cfg, err := loadConfig(flags, getenv)
	if err != nil {
		return err
	}
	if !cfg.databaseConfigured() {
		return errors.New("the outbox is durable only in PostgreSQL: set database.url (env DATABASE_URL)")
	}
	pool, err := openPostgres(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg.App.Environment == envDevelopment)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := delivery.NewPostgresStore(pool)
	now := time.Now()

	switch pos[0] {
	case "list":
		status := delivery.Status("")
		if len(pos) > 1 {
			status = delivery.Status(pos[1])
		}
		rows, err := store.List(ctx, status, 1000)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tCHANNEL\tTEMPLATE\tATTEMPTS\tCREATED\tNEXT ATTEMPT\tLAST ERROR")
		for _, r := range rows {
			next := "-"
			if r.Status == delivery.StatusPending {
				next = r.NextAttemptAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Status, r.Channel, r.Template, r.Attempts,
				r.CreatedAt.UTC().Format(time.RFC3339), next, r.LastError)
		}
		return tw.Flush()
	case "retry":
		n, err := store.Retry(ctx, pos[1:], now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d messages queued again\n", n)
		return nil
	case "purge":
		if len(pos) < 2 {
			return errors.New(outboxUsage)
		}
		age := 7 * 24 * time.Hour
		if len(pos) > 2 {
			d, err := parseDuration(pos[2])
			if err != nil {
				return fmt.Errorf("purge age: %w", err)
			}
			age = d.D()
		}
		n, err := store.Purge(ctx, delivery.Status(pos[1]), now.Add(-age))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d %s messages purged\n", n, pos[1])
		return nil
	}
	return errors.New(outboxUsage)
}
