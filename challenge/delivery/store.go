package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd/challenge"
)

// Errors a Store returns.
var (
	// ErrConflict: Enqueue was given an ID the store already holds.
	ErrConflict = errors.New("delivery: message id already queued")
	// ErrLeaseLost: a worker tried to record the outcome of an attempt it
	// no longer owns. Its lease ran out and another worker claimed the
	// message again, or the message was already sent, abandoned or purged.
	// The worker drops its result; the row is left as the newer owner set it.
	ErrLeaseLost = errors.New("delivery: message no longer held by this attempt")
)

// Status is where a message is in its life.
type Status string

const (
	// StatusPending messages wait for their next attempt (or are being
	// attempted, under a lease).
	StatusPending Status = "pending"
	// StatusSent messages were accepted by a provider; their variables are
	// wiped.
	StatusSent Status = "sent"
	// StatusAbandoned messages failed permanently or too often. They keep
	// their sealed variables so `authd outbox retry` can send them once the
	// cause is fixed (a provider that rejected a bad API key as a 4xx would
	// otherwise lose every message of the incident); Purge deletes them.
	StatusAbandoned Status = "abandoned"
)

func (s Status) valid() bool {
	return s == StatusPending || s == StatusSent || s == StatusAbandoned
}

// Row is one queued message as stored. The variables are sealed by the
// [Queue]; a store never sees them in the clear.
type Row struct {
	ID        string // a UUID
	Channel   challenge.Channel
	Recipient string
	Template  string
	Locale    string
	// VariablesSealed is the JSON of the template variables sealed with
	// AES-256-GCM, the ID as additional data. nil once the message is sent.
	VariablesSealed []byte
	Status          Status
	// Attempts counts claims: a claim is an attempt even when the worker
	// dies before recording its outcome, so a message that crashes workers
	// is still abandoned in the end. The count a claim returns also fences
	// that attempt's MarkRetry and MarkAbandoned.
	Attempts      int
	NextAttemptAt time.Time
	// LastError says why the last attempt failed. The worker removes every
	// variable's value from it, so it never holds a code or a link.
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
	SentAt    time.Time // zero unless sent
}

// Stats summarises the queue for metrics and operators.
type Stats struct {
	Pending   int
	Abandoned int
	// OldestPendingAge is how long the oldest pending message has waited,
	// 0 when none is pending: a growing value means delivery is stuck.
	OldestPendingAge time.Duration
}

// Store is the durable outbox. Implementations: [MemoryStore] (embedded
// default) and [PostgresStore]; both pass deliverytest.Run. Every method is
// atomic, and any number of workers in any number of processes may share
// one store. IDs are UUIDs; an ID that is not one is simply never found.
type Store interface {
	// Enqueue adds a pending row. ErrConflict if its ID exists.
	Enqueue(ctx context.Context, r Row) error
	// Claim takes up to limit pending rows due at now (NextAttemptAt <=
	// now), oldest due first, counts an attempt on each and pushes its
	// NextAttemptAt to now+lease, so that no other claim takes it until
	// then and a row whose worker died becomes due again. Concurrent claims
	// never return the same row. The rows are returned as updated.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Row, error)
	// MarkSent records that a provider accepted the pending row id and
	// wipes its variables. Any attempt may mark it sent, since the message
	// did go out. ErrLeaseLost if the row is not pending.
	MarkSent(ctx context.Context, id string, now time.Time) error
	// MarkRetry schedules the pending row id, claimed by the attempt
	// numbered attempt, for another attempt at next. ErrLeaseLost if the
	// row is not pending or was claimed again since.
	MarkRetry(ctx context.Context, id string, attempt int, next time.Time, lastError string, now time.Time) error
	// MarkAbandoned gives up on the pending row id, claimed by the attempt
	// numbered attempt, keeping its sealed variables for Retry (see
	// StatusAbandoned). ErrLeaseLost as for MarkRetry.
	MarkAbandoned(ctx context.Context, id string, attempt int, lastError string, now time.Time) error
	// List returns up to limit (at least 1) rows of status, or of every
	// status when status is "", oldest first.
	List(ctx context.Context, status Status, limit int) ([]Row, error)
	// Retry makes the rows ids pending again, due at now with no attempts
	// counted, provided they are abandoned or pending; with no ids, every
	// abandoned row. It returns how many rows it reset. Sent rows have no
	// variables left and are never resent.
	Retry(ctx context.Context, ids []string, now time.Time) (int, error)
	// Purge deletes the rows of status (sent or abandoned) last updated
	// before cutoff and returns how many.
	Purge(ctx context.Context, status Status, before time.Time) (int, error)
	// Stats counts pending and abandoned rows and measures, at now, the
	// age of the oldest pending one.
	Stats(ctx context.Context, now time.Time) (Stats, error)
}

// checkEnqueue rejects rows no worker could deliver, the same way in every
// store.
func checkEnqueue(r Row) error {
	switch {
	case r.ID != canonicalID(r.ID):
		return fmt.Errorf("id %q is not a UUID in canonical form", r.ID)
	case r.Status != StatusPending:
		return fmt.Errorf("status %q, want %q", r.Status, StatusPending)
	case r.Channel == "" || r.Recipient == "" || r.Template == "" || r.Locale == "":
		return errors.New("channel, recipient, template and locale are required")
	case r.Attempts != 0:
		return fmt.Errorf("attempts %d, want 0", r.Attempts)
	}
	return nil
}

func checkList(status Status, limit int) error {
	if status != "" && !status.valid() {
		return fmt.Errorf("unknown status %q", status)
	}
	if limit < 1 {
		return fmt.Errorf("limit %d is below 1", limit)
	}
	return nil
}

// checkPurge allows only final statuses: purging pending rows would lose
// messages.
func checkPurge(status Status) error {
	if status != StatusSent && status != StatusAbandoned {
		return fmt.Errorf("cannot purge status %q: only %q or %q", status, StatusSent, StatusAbandoned)
	}
	return nil
}

// canonicalID returns id as PostgreSQL prints a uuid (lower case, with
// hyphens), or "" when id is not a UUID. Stores look rows up by it, so an
// operator's typo is "not found", not a server error, and the memory store
// finds an ID in every spelling PostgreSQL accepts, as PostgreSQL does.
func canonicalID(id string) string {
	var u pgtype.UUID
	if u.Scan(id) != nil {
		return ""
	}
	return u.String()
}
