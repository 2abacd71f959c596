// Package deliverytest is the conformance suite every delivery.Store
// passes, in the manner of Dex's storage/conformance: the memory store and
// the PostgreSQL store run the same tests, so the embedded default behaves
// like production.
package deliverytest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/internal/random"
)

// base is whole microseconds, the precision PostgreSQL keeps.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// sealed stands in for sealed variables; its bytes are ones a careless
// encoding would mangle: NUL, invalid UTF-8, quotes.
var sealed = []byte{0x00, 0xff, '"', '\\', 0x80, 's', 'e', 'a', 'l', 0x00}

const lease = 2 * time.Minute

// Run runs the suite; newStore must return an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) delivery.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s delivery.Store)
	}{
		{"EnqueueList", testEnqueueList},
		{"EnqueueConflict", testEnqueueConflict},
		{"EnqueueInvalid", testEnqueueInvalid},
		{"ListFilterLimit", testListFilterLimit},
		{"ClaimDueOnly", testClaimDueOnly},
		{"ClaimOrderLimit", testClaimOrderLimit},
		{"ClaimLeaseExpires", testClaimLeaseExpires},
		{"ClaimParallel", testClaimParallel},
		{"MarkSent", testMarkSent},
		{"MarkRetry", testMarkRetry},
		{"MarkAbandoned", testMarkAbandoned},
		{"StaleAttempt", testStaleAttempt},
		{"MarkUnknown", testMarkUnknown},
		{"RetryIDs", testRetryIDs},
		{"RetryAllAbandoned", testRetryAllAbandoned},
		{"Purge", testPurge},
		{"Stats", testStats},
		{"NoAliasing", testNoAliasing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// newRow returns a pending row due at due, created at created.
func newRow(t *testing.T, created, due time.Time) delivery.Row {
	t.Helper()
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Row{
		ID:              id,
		Channel:         challenge.ChannelEmail,
		Recipient:       "ada@example.com",
		Template:        challenge.TemplateSignupCode,
		Locale:          "en",
		VariablesSealed: bytes.Clone(sealed),
		Status:          delivery.StatusPending,
		NextAttemptAt:   due,
		CreatedAt:       created,
		UpdatedAt:       created,
	}
}

func enqueue(t *testing.T, s delivery.Store, rows ...delivery.Row) {
	t.Helper()
	for _, r := range rows {
		if err := s.Enqueue(context.Background(), r); err != nil {
			t.Fatalf("Enqueue(%s): %v", r.ID, err)
		}
	}
}

// get finds the row id among all rows.
func get(t *testing.T, s delivery.Store, id string) delivery.Row {
	t.Helper()
	rows, err := s.List(context.Background(), "", 1000)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, r := range rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("row %s not found", id)
	return delivery.Row{}
}

func claim(t *testing.T, s delivery.Store, now time.Time, limit int) []delivery.Row {
	t.Helper()
	rows, err := s.Claim(context.Background(), now, limit, lease)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return rows
}

func ids(rows []delivery.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// equalRow compares rows field by field, times by instant (PostgreSQL
// returns them in the session's zone).
func equalRow(t *testing.T, got, want delivery.Row) {
	t.Helper()
	if got.ID != want.ID || got.Channel != want.Channel || got.Recipient != want.Recipient ||
		got.Template != want.Template || got.Locale != want.Locale || got.Status != want.Status ||
		got.Attempts != want.Attempts || got.LastError != want.LastError ||
		!bytes.Equal(got.VariablesSealed, want.VariablesSealed) || (got.VariablesSealed == nil) != (want.VariablesSealed == nil) {
		t.Errorf("row = %+v, want %+v", got, want)
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{
		{"NextAttemptAt", got.NextAttemptAt, want.NextAttemptAt},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"SentAt", got.SentAt, want.SentAt},
	} {
		if !tm.got.Equal(tm.want) {
			t.Errorf("%s = %v, want %v", tm.name, tm.got, tm.want)
		}
	}
}

func testEnqueueList(t *testing.T, s delivery.Store) {
	r := newRow(t, base, base)
	r.Channel, r.Recipient, r.Template, r.Locale = challenge.ChannelSMS, "+441234567890", challenge.TemplateLoginCode, "pt-br"
	enqueue(t, s, r)
	equalRow(t, get(t, s, r.ID), r)
}

func testEnqueueConflict(t *testing.T, s delivery.Store) {
	r := newRow(t, base, base)
	enqueue(t, s, r)
	other := newRow(t, base.Add(time.Second), base)
	other.ID = r.ID
	if err := s.Enqueue(context.Background(), other); !errors.Is(err, delivery.ErrConflict) {
		t.Fatalf("Enqueue(same id) = %v, want ErrConflict", err)
	}
	equalRow(t, get(t, s, r.ID), r)
}

func testEnqueueInvalid(t *testing.T, s delivery.Store) {
	for name, change := range map[string]func(*delivery.Row){
		"id not a uuid":    func(r *delivery.Row) { r.ID = "msg-1" },
		"id upper case":    func(r *delivery.Row) { r.ID = "0193A5C2-7B1D-4E8F-9A2B-3C4D5E6F7A8B" },
		"status sent":      func(r *delivery.Row) { r.Status = delivery.StatusSent },
		"no recipient":     func(r *delivery.Row) { r.Recipient = "" },
		"no template":      func(r *delivery.Row) { r.Template = "" },
		"no locale":        func(r *delivery.Row) { r.Locale = "" },
		"attempts counted": func(r *delivery.Row) { r.Attempts = 1 },
	} {
		r := newRow(t, base, base)
		change(&r)
		if err := s.Enqueue(context.Background(), r); err == nil || errors.Is(err, delivery.ErrConflict) {
			t.Errorf("%s: Enqueue = %v, want a validation error", name, err)
		}
	}
	if rows, err := s.List(context.Background(), "", 10); err != nil || len(rows) != 0 {
		t.Fatalf("List = %d rows, %v; want none", len(rows), err)
	}
}

func testListFilterLimit(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	var want []string
	for i := range 5 {
		r := newRow(t, base.Add(time.Duration(5-i)*time.Second), base)
		enqueue(t, s, r)
		want = append([]string{r.ID}, want...) // created in reverse
	}
	got, err := s.List(ctx, delivery.StatusPending, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want[:3]) {
		t.Errorf("List(pending, 3) = %v, want oldest first %v", ids(got), want[:3])
	}
	if got, err := s.List(ctx, delivery.StatusSent, 10); err != nil || len(got) != 0 {
		t.Errorf("List(sent) = %d rows, %v; want none", len(got), err)
	}
	if _, err := s.List(ctx, "bogus", 10); err == nil {
		t.Error("List(bogus status) succeeded")
	}
	if _, err := s.List(ctx, "", 0); err == nil {
		t.Error("List(limit 0) succeeded")
	}
}

func testClaimDueOnly(t *testing.T, s delivery.Store) {
	due := newRow(t, base, base)
	later := newRow(t, base, base.Add(time.Second))
	enqueue(t, s, due, later)

	got := claim(t, s, base, 10)
	if len(got) != 1 || got[0].ID != due.ID {
		t.Fatalf("Claim = %v, want only the due row %s", ids(got), due.ID)
	}
	want := due
	want.Attempts, want.NextAttemptAt, want.UpdatedAt = 1, base.Add(lease), base
	equalRow(t, got[0], want)
	equalRow(t, get(t, s, due.ID), want)

	// Claimed, it is not due again within its lease.
	if got := claim(t, s, base.Add(time.Second), 10); len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("second Claim = %v, want only %s", ids(got), later.ID)
	}
	if got := claim(t, s, base.Add(time.Minute), 10); len(got) != 0 {
		t.Fatalf("Claim within leases = %v, want none", ids(got))
	}
}

func testClaimOrderLimit(t *testing.T, s delivery.Store) {
	var want []string
	for i := range 5 {
		r := newRow(t, base, base.Add(-time.Duration(i)*time.Second)) // the last is due first
		enqueue(t, s, r)
		want = append([]string{r.ID}, want...)
	}
	first := claim(t, s, base, 2)
	second := claim(t, s, base, 10)
	if !slices.Equal(ids(first), want[:2]) {
		t.Errorf("Claim(2) = %v, want the two due first %v", ids(first), want[:2])
	}
	if got := ids(second); !slices.Equal(got, want[2:]) {
		t.Errorf("next Claim = %v, want %v", got, want[2:])
	}
	if _, err := s.Claim(context.Background(), base, 0, lease); err == nil {
		t.Error("Claim(limit 0) succeeded")
	}
	if _, err := s.Claim(context.Background(), base, 1, 0); err == nil {
		t.Error("Claim(lease 0) succeeded")
	}
}

// testClaimLeaseExpires is crash recovery: a row whose worker never reports
// back is claimed again once the lease has passed, as a further attempt.
func testClaimLeaseExpires(t *testing.T, s delivery.Store) {
	r := newRow(t, base, base)
	enqueue(t, s, r)
	claim(t, s, base, 1)
	if got := claim(t, s, base.Add(lease-time.Microsecond), 1); len(got) != 0 {
		t.Fatalf("Claim just before the lease ends = %v, want none", ids(got))
	}
	got := claim(t, s, base.Add(lease), 1)
	if len(got) != 1 || got[0].Attempts != 2 || !got[0].NextAttemptAt.Equal(base.Add(2*lease)) {
		t.Fatalf("Claim after the lease = %+v, want the row at attempt 2, leased to %v", got, base.Add(2*lease))
	}
}

// testClaimParallel races claimers over many due rows: each row must be
// handed out exactly once.
func testClaimParallel(t *testing.T, s delivery.Store) {
	const rows, claimers, batch = 100, 4, 7
	want := make(map[string]bool, rows)
	for range rows {
		r := newRow(t, base, base)
		enqueue(t, s, r)
		want[r.ID] = true
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = make(map[string]int, rows)
		start   = make(chan struct{})
	)
	for range claimers {
		wg.Go(func() {
			<-start
			for {
				got, err := s.Claim(context.Background(), base, batch, lease)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, r := range got {
					claimed[r.ID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	for id, n := range claimed {
		if n != 1 || !want[id] {
			t.Errorf("row %s claimed %d times (known: %v)", id, n, want[id])
		}
	}
	if len(claimed) != rows {
		t.Errorf("%d rows claimed, want %d", len(claimed), rows)
	}
	if got := claim(t, s, base, rows); len(got) != 0 {
		t.Errorf("rows left after the race: %v", ids(got))
	}
}

func testMarkSent(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	claim(t, s, base, 1)
	sentAt := base.Add(time.Second)
	if err := s.MarkSent(ctx, r.ID, sentAt); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	want := r
	want.Status, want.Attempts, want.VariablesSealed = delivery.StatusSent, 1, nil
	want.NextAttemptAt, want.UpdatedAt, want.SentAt = base.Add(lease), sentAt, sentAt
	equalRow(t, get(t, s, r.ID), want)

	if err := s.MarkSent(ctx, r.ID, sentAt); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Errorf("MarkSent twice = %v, want ErrLeaseLost", err)
	}
	if got := claim(t, s, base.Add(24*time.Hour), 1); len(got) != 0 {
		t.Errorf("a sent row was claimed: %v", ids(got))
	}
}

func testMarkRetry(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	c := claim(t, s, base, 1)[0]
	next, now := base.Add(10*time.Second), base.Add(time.Second)
	if err := s.MarkRetry(ctx, r.ID, c.Attempts, next, "provider said 503", now); err != nil {
		t.Fatalf("MarkRetry: %v", err)
	}
	want := r
	want.Attempts, want.NextAttemptAt, want.LastError, want.UpdatedAt = 1, next, "provider said 503", now
	equalRow(t, get(t, s, r.ID), want)

	if got := claim(t, s, next.Add(-time.Microsecond), 1); len(got) != 0 {
		t.Fatalf("claimed before its retry time: %v", ids(got))
	}
	got := claim(t, s, next, 1)
	if len(got) != 1 || got[0].Attempts != 2 || !bytes.Equal(got[0].VariablesSealed, sealed) {
		t.Fatalf("Claim at retry time = %+v, want attempt 2 with the same variables", got)
	}
}

func testMarkAbandoned(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	c := claim(t, s, base, 1)[0]
	now := base.Add(time.Second)
	if err := s.MarkAbandoned(ctx, r.ID, c.Attempts, "recipient refused", now); err != nil {
		t.Fatalf("MarkAbandoned: %v", err)
	}
	want := r
	want.Status, want.Attempts, want.LastError = delivery.StatusAbandoned, 1, "recipient refused"
	want.NextAttemptAt, want.UpdatedAt = base.Add(lease), now
	// The sealed variables stay so that Retry can send the message.
	equalRow(t, get(t, s, r.ID), want)
	if got := claim(t, s, base.Add(24*time.Hour), 1); len(got) != 0 {
		t.Errorf("an abandoned row was claimed: %v", ids(got))
	}
}

// testStaleAttempt: a worker whose lease ran out reports after another
// claimed the row. Its retry or abandonment must not touch the row.
func testStaleAttempt(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	first := claim(t, s, base, 1)[0]
	second := claim(t, s, base.Add(lease), 1)[0]
	before := get(t, s, r.ID)

	if err := s.MarkRetry(ctx, r.ID, first.Attempts, base, "stale", base); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Errorf("stale MarkRetry = %v, want ErrLeaseLost", err)
	}
	if err := s.MarkAbandoned(ctx, r.ID, first.Attempts, "stale", base); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Errorf("stale MarkAbandoned = %v, want ErrLeaseLost", err)
	}
	equalRow(t, get(t, s, r.ID), before)

	// The first worker did deliver: that is recorded whoever holds the row,
	// and the current holder's outcome is then dropped.
	if err := s.MarkSent(ctx, r.ID, base.Add(lease+time.Second)); err != nil {
		t.Fatalf("MarkSent by the stale attempt: %v", err)
	}
	if err := s.MarkRetry(ctx, r.ID, second.Attempts, base, "late", base); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Errorf("MarkRetry after sent = %v, want ErrLeaseLost", err)
	}
	if got := get(t, s, r.ID); got.Status != delivery.StatusSent {
		t.Errorf("status = %s, want sent", got.Status)
	}
}

func testMarkUnknown(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	unknown := newRow(t, base, base).ID
	for _, id := range []string{unknown, "not-a-uuid", ""} {
		if err := s.MarkSent(ctx, id, base); !errors.Is(err, delivery.ErrLeaseLost) {
			t.Errorf("MarkSent(%q) = %v, want ErrLeaseLost", id, err)
		}
		if err := s.MarkRetry(ctx, id, 1, base, "", base); !errors.Is(err, delivery.ErrLeaseLost) {
			t.Errorf("MarkRetry(%q) = %v, want ErrLeaseLost", id, err)
		}
		if err := s.MarkAbandoned(ctx, id, 1, "", base); !errors.Is(err, delivery.ErrLeaseLost) {
			t.Errorf("MarkAbandoned(%q) = %v, want ErrLeaseLost", id, err)
		}
	}
}

// abandon enqueues, claims and abandons a row at base.
func abandon(t *testing.T, s delivery.Store) delivery.Row {
	t.Helper()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	c := claim(t, s, base, 1)[0]
	if err := s.MarkAbandoned(context.Background(), r.ID, c.Attempts, "gave up", base); err != nil {
		t.Fatal(err)
	}
	return r
}

// send enqueues, claims and marks sent a row at base.
func send(t *testing.T, s delivery.Store) delivery.Row {
	t.Helper()
	r := newRow(t, base, base)
	enqueue(t, s, r)
	claim(t, s, base, 1)
	if err := s.MarkSent(context.Background(), r.ID, base); err != nil {
		t.Fatal(err)
	}
	return r
}

func testRetryIDs(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	abandoned, otherAbandoned, sent := abandon(t, s), abandon(t, s), send(t, s)
	// A stuck pending row: failed once and due in an hour.
	stuck := newRow(t, base, base)
	enqueue(t, s, stuck)
	c := claim(t, s, base, 1)[0]
	if err := s.MarkRetry(ctx, stuck.ID, c.Attempts, base.Add(time.Hour), "timeout", base); err != nil {
		t.Fatal(err)
	}

	now := base.Add(time.Minute)
	n, err := s.Retry(ctx, []string{abandoned.ID, stuck.ID, sent.ID, stuck.ID, newRow(t, base, base).ID, "not-a-uuid"}, now)
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if n != 2 {
		t.Errorf("Retry reset %d rows, want 2 (the abandoned and the stuck one)", n)
	}
	for _, id := range []string{abandoned.ID, stuck.ID} {
		got := get(t, s, id)
		if got.Status != delivery.StatusPending || got.Attempts != 0 || !got.NextAttemptAt.Equal(now) ||
			!bytes.Equal(got.VariablesSealed, sealed) {
			t.Errorf("retried row = %+v, want pending, 0 attempts, due %v, variables kept", got, now)
		}
	}
	if got := get(t, s, otherAbandoned.ID); got.Status != delivery.StatusAbandoned {
		t.Errorf("row not named was retried: %s", got.Status)
	}
	if got := get(t, s, sent.ID); got.Status != delivery.StatusSent {
		t.Errorf("a sent row was retried: %s", got.Status)
	}
	if got := claim(t, s, now, 10); len(got) != 2 {
		t.Errorf("Claim after Retry = %v, want the 2 retried rows", ids(got))
	}
}

func testRetryAllAbandoned(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	a, b, sent := abandon(t, s), abandon(t, s), send(t, s)
	pending := newRow(t, base, base.Add(time.Hour))
	enqueue(t, s, pending)

	now := base.Add(time.Minute)
	n, err := s.Retry(ctx, nil, now)
	if err != nil || n != 2 {
		t.Fatalf("Retry(all) = %d, %v; want 2", n, err)
	}
	got := claim(t, s, now, 10)
	if !sameSet(ids(got), []string{a.ID, b.ID}) {
		t.Errorf("Claim after Retry(all) = %v, want %v", ids(got), []string{a.ID, b.ID})
	}
	if r := get(t, s, sent.ID); r.Status != delivery.StatusSent {
		t.Errorf("sent row is %s", r.Status)
	}
	if r := get(t, s, pending.ID); !r.NextAttemptAt.Equal(pending.NextAttemptAt) {
		t.Errorf("a pending row was touched by Retry(all): due %v", r.NextAttemptAt)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func testPurge(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	sent, abandoned := send(t, s), abandon(t, s)
	pending := newRow(t, base.Add(-time.Hour), base.Add(-time.Hour))
	enqueue(t, s, pending)

	if n, err := s.Purge(ctx, delivery.StatusSent, base); err != nil || n != 0 {
		t.Fatalf("Purge(sent, before their update) = %d, %v; want 0", n, err)
	}
	if n, err := s.Purge(ctx, delivery.StatusSent, base.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Purge(sent) = %d, %v; want 1", n, err)
	}
	if n, err := s.Purge(ctx, delivery.StatusAbandoned, base.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Purge(abandoned) = %d, %v; want 1", n, err)
	}
	if _, err := s.Purge(ctx, delivery.StatusPending, base.Add(time.Hour)); err == nil {
		t.Error("Purge(pending) succeeded: it would lose messages")
	}
	rows, err := s.List(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rows); !slices.Equal(got, []string{pending.ID}) {
		t.Errorf("rows after purge = %v, want only the pending %s (sent %s, abandoned %s gone)", got, pending.ID, sent.ID, abandoned.ID)
	}
}

func testStats(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	st, err := s.Stats(ctx, base)
	if err != nil || st != (delivery.Stats{}) {
		t.Fatalf("Stats(empty) = %+v, %v; want zero", st, err)
	}
	send(t, s)
	abandon(t, s)
	abandon(t, s)
	enqueue(t, s, newRow(t, base.Add(-time.Minute), base.Add(time.Hour)), newRow(t, base.Add(-time.Second), base))

	st, err = s.Stats(ctx, base.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := delivery.Stats{Pending: 2, Abandoned: 2, OldestPendingAge: time.Minute + time.Second}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func testNoAliasing(t *testing.T, s delivery.Store) {
	r := newRow(t, base, base)
	enqueue(t, s, r)
	r.VariablesSealed[0] = 'x'
	got := claim(t, s, base, 1)[0]
	if !bytes.Equal(got.VariablesSealed, sealed) {
		t.Fatalf("store shares the enqueued slice: %q", got.VariablesSealed)
	}
	got.VariablesSealed[0] = 'y'
	if again := get(t, s, r.ID); !bytes.Equal(again.VariablesSealed, sealed) {
		t.Fatalf("store shares the returned slice: %q", again.VariablesSealed)
	}
}
