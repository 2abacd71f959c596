// Command authd is the token server: `authd serve`, `authd migrate up|status`,
// `authd keys list|rotate|rekey|generate`, `authd version`. This package reads configuration and wires the domain
// packages together; it holds no business rules.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `authd is a token server.

Usage:
  authd serve [--config FILE] [--key=value ...]   start the server
  authd migrate up|status [--config FILE]         apply or show schema migrations
  authd keys list|rotate [--config FILE]          show signing keys; start a rotation now
  authd keys rekey                                re-seal keys under keys.new_encryption_key
  authd keys generate --keys.dir=DIR              write a PEM key for read-only PEM mode
  authd outbox list|retry|purge                   inspect and repair the message outbox
  authd version                                   print the version

Every configuration key a.b can be set in the YAML file, as env A_B, or as
flag --a.b (e.g. --server.port=9090, SERVER_PORT=9090).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "authd:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		cfg, err := loadConfig(args[1:], getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, newLogger(cfg, os.Stderr), nil)
	case "migrate":
		return migrateCommand(ctx, args[1:], stdout, getenv)
	case "keys":
		return keysCommand(ctx, args[1:], stdout, getenv)
	case "outbox":
		return outboxCommand(ctx, args[1:], stdout, getenv)
	case "version":
		fmt.Fprintf(stdout, "authd %s (%s)\n", version, runtime.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
