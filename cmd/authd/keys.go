package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/authd/authd/keystore"
)

const keysUsage = "usage: authd keys list|rotate|rekey|generate [--config FILE] [--key=value ...]"

// keysCommand runs `authd keys …` against the keys serve would use.
func keysCommand(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	cmd := args[0]
	cfg, err := loadConfig(args[1:], getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cmd == "generate" {
		return generateKey(cfg, stdout)
	}
	if cmd != "list" && cmd != "rotate" && cmd != "rekey" {
		return errors.New(keysUsage)
	}
	var store keystore.Store
	if cfg.Keys.Dir == "" {
		if !cfg.databaseConfigured() {
			return errors.New("no database configured: set database.url (env DATABASE_URL), or keys.dir for PEM files")
		}
		pool, err := openPostgres(ctx, cfg, log, cfg.App.Environment == envDevelopment)
		if err != nil {
			return err
		}
		defer pool.Close()
		store = keystore.NewPostgresStore(pool)
	}
	if cmd == "rekey" {
		return rekey(ctx, cfg, store, stdout)
	}
	keys, err := openKeys(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	if cmd == "rotate" {
		next, created, err := keys.Rotate(ctx)
		if err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		verb := "created"
		if !created {
			verb = "already pending"
		}
		fmt.Fprintf(stdout, "next key %s %s: publishing now, signs from %s\n", next.ID, verb, next.ActivatesAt.UTC().Format(time.RFC3339))
	}
	printKeys(stdout, keys)
	return nil
}

func printKeys(w io.Writer, keys *keystore.Manager) {
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tCREATED\tACTIVATES\tRETIRES\tEXPIRES")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range keys.Published() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.StateAt(now), ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.RetiresAt), ts(k.ExpiresAt))
	}
	_ = tw.Flush()
	s := keys.Schedule()
	fmt.Fprintf(w, "rotation every %s; a new key publishes %s before it signs; a retired key stays published %s\n",
		s.RotationPeriod, s.ActivationDelay(), s.RetiredFor())
}

// rekey re-seals every stored key under keys.new_encryption_key. Restart
// every instance with the new keys.encryption_key afterwards.
func rekey(ctx context.Context, cfg *Config, store keystore.Store, stdout io.Writer) error {
	if store == nil {
		return errors.New("rekey: keys in keys.dir are PEM files, not sealed: nothing to re-seal")
	}
	if cfg.Keys.EncryptionKey == "" || cfg.Keys.NewEncryptionKey == "" {
		return errors.New("rekey: set keys.encryption_key (the current KEK) and keys.new_encryption_key")
	}
	oldKEK, err := keystore.ParseKEK(cfg.Keys.EncryptionKey)
	if err != nil {
		return fmt.Errorf("keys.encryption_key: %w", err)
	}
	newKEK, err := keystore.ParseKEK(cfg.Keys.NewEncryptionKey)
	if err != nil {
		return fmt.Errorf("keys.new_encryption_key: %w", err)
	}
	n, err := keystore.Rekey(ctx, store, oldKEK, newKEK)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-sealed %d keys: restart every instance with keys.encryption_key set to the new key\n", n)
	return nil
}

// generateKey writes a PEM key into keys.dir, the replacement for the seeds'
// generate_keys.sh. The first key activates at once; later ones only after
// every instance and verifier can have seen them.
func generateKey(cfg *Config, stdout io.Writer) error {
	if cfg.Keys.Dir == "" {
		return errors.New("generate: set keys.dir (env KEYS_DIR, flag --keys.dir) to the PEM directory")
	}
	at := time.Now()
	existing, err := keystore.NewPEMStore(cfg.Keys.Dir).ListKeys(context.Background())
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if len(existing) > 0 {
		at = at.Add(cfg.keySchedule().ActivationDelay())
	}
	path, err := keystore.GeneratePEM(cfg.Keys.Dir, cfg.Keys.Size, at)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (signs from %s); copy it to every instance's keys.dir\n", path, at.UTC().Format(time.RFC3339))
	return nil
}
