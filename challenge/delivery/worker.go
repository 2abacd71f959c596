package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/authd/authd/challenge"
)

const (
	defaultMaxAttempts = 10
	defaultBackoffBase = 2 * time.Second
	defaultBackoffCap  = time.Hour
	defaultBatch       = 8
	defaultConcurrency = 4
	defaultLease       = 2 * time.Minute
	defaultPoll        = time.Second
	defaultTimeout     = 30 * time.Second
	// markTimeout bounds recording an outcome, which runs even while the
	// worker shuts down (see process).
	markTimeout = 10 * time.Second
	// maxLastError keeps a provider's long error page out of the row.
	maxLastError = 500
)

// Worker delivers queued messages: it claims due rows, renders them with
// [Templates] and hands them to the [Provider] of their channel. Any number
// of workers, in any number of instances, may share one store: a claim
// leases its rows, so each delivery attempt has one owner, and a worker
// that dies mid-attempt only delays its rows until the lease ends.
//
// Delivery is at least once: a worker that delivers and dies before
// recording it, or outlives its lease, lets the message be sent again.
// Envelope.ID is stable across attempts for providers that deduplicate.
type Worker struct {
	queue       *Queue
	templates   *Templates
	providers   map[challenge.Channel]Provider
	maxAttempts int
	backoff     *backoff
	batch       int
	concurrency int
	lease       time.Duration
	poll        time.Duration
	timeout     time.Duration
	now         func() time.Time
	logger      *slog.Logger
	metrics     *Metrics
}

// WorkerOption configures a Worker.
type WorkerOption func(*Worker)

// WorkerMaxAttempts sets how many attempts a message gets before it is
// abandoned (default 10).
func WorkerMaxAttempts(n int) WorkerOption { return func(w *Worker) { w.maxAttempts = n } }

// WorkerBackoff sets the backoff between attempts: after the nth failure the
// next attempt waits a random time up to min(limit, base·2^(n-1)) (default
// 2 s and 1 h).
func WorkerBackoff(base, limit time.Duration) WorkerOption {
	return func(w *Worker) { w.backoff.base, w.backoff.cap = base, limit }
}

// WorkerRandom sets the source of the backoff's jitter (default a randomly
// seeded one).
func WorkerRandom(src rand.Source) WorkerOption {
	return func(w *Worker) { w.backoff.rand = rand.New(src) }
}

// WorkerBatch sets how many messages one claim takes (default 8).
func WorkerBatch(n int) WorkerOption { return func(w *Worker) { w.batch = n } }

// WorkerConcurrency sets how many claimed messages are delivered at once
// (default 4).
func WorkerConcurrency(n int) WorkerOption { return func(w *Worker) { w.concurrency = n } }

// WorkerLease sets how long a claim holds its messages before another
// worker may take them (default 2 minutes). It must outlast a whole batch:
// ceil(batch/concurrency) deliveries of at most the timeout each.
func WorkerLease(d time.Duration) WorkerOption { return func(w *Worker) { w.lease = d } }

// WorkerPoll sets how often an idle worker looks for due messages (default
// 1 s); a message queued by this process wakes it at once.
func WorkerPoll(d time.Duration) WorkerOption { return func(w *Worker) { w.poll = d } }

// WorkerTimeout bounds each Deliver call (default 30 s), so a hanging
// provider costs one attempt, not the worker.
func WorkerTimeout(d time.Duration) WorkerOption { return func(w *Worker) { w.timeout = d } }

// WorkerClock sets the clock claims and retries are scheduled with (default
// time.Now).
func WorkerClock(now func() time.Time) WorkerOption { return func(w *Worker) { w.now = now } }

// WorkerLogger sets where outcomes are logged (default slog.Default).
func WorkerLogger(l *slog.Logger) WorkerOption { return func(w *Worker) { w.logger = l } }

// WorkerMetrics sets the counters the worker increments (from
// [RegisterMetrics]; default none).
func WorkerMetrics(m *Metrics) WorkerOption { return func(w *Worker) { w.metrics = m } }

// NewWorker returns a Worker for queue's store and key, rendering with
// templates and delivering through providers, one per channel. A message
// of a channel without a provider is abandoned.
func NewWorker(queue *Queue, templates *Templates, providers map[challenge.Channel]Provider, opts ...WorkerOption) (*Worker, error) {
	w := &Worker{
		queue:       queue,
		templates:   templates,
		providers:   maps.Clone(providers),
		maxAttempts: defaultMaxAttempts,
		backoff:     &backoff{base: defaultBackoffBase, cap: defaultBackoffCap},
		batch:       defaultBatch,
		concurrency: defaultConcurrency,
		lease:       defaultLease,
		poll:        defaultPoll,
		timeout:     defaultTimeout,
		now:         time.Now,
		logger:      slog.Default(),
	}
	for _, opt := range opts {
		opt(w)
	}
	for ch, p := range w.providers {
		if p == nil {
			return nil, fmt.Errorf("delivery: new worker: nil provider for channel %q", ch)
		}
	}
	// A batch's last delivery starts after ceil(batch/concurrency)-1 others
	// and must finish, outcome recorded, inside the lease, or another
	// worker would send the message a second time.
	batchTime := time.Duration((w.batch+w.concurrency-1)/max(w.concurrency, 1))*w.timeout + markTimeout
	switch {
	case queue == nil || templates == nil:
		return nil, errors.New("delivery: new worker: nil queue or templates")
	case len(w.providers) == 0:
		return nil, errors.New("delivery: new worker: no providers")
	case w.maxAttempts < 1 || w.batch < 1 || w.concurrency < 1:
		return nil, fmt.Errorf("delivery: new worker: max attempts %d, batch %d and concurrency %d must be at least 1",
			w.maxAttempts, w.batch, w.concurrency)
	case w.backoff.base <= 0 || w.backoff.cap < w.backoff.base:
		return nil, fmt.Errorf("delivery: new worker: backoff base %v must be positive and cap %v at least base",
			w.backoff.base, w.backoff.cap)
	case w.poll <= 0 || w.timeout <= 0:
		return nil, fmt.Errorf("delivery: new worker: poll %v and timeout %v must be positive", w.poll, w.timeout)
	case w.lease <= batchTime:
		return nil, fmt.Errorf("delivery: new worker: lease %v is too short: a batch of %d at concurrency %d with timeout %v may take %v",
			w.lease, w.batch, w.concurrency, w.timeout, batchTime)
	}
	return w, nil
}

// Run delivers messages until ctx ends: it claims a batch, and when none
// was full waits for the poll interval or a message queued by this
// process. Store errors are logged and retried at the next poll. Deliveries
// in flight when ctx ends are finished and recorded before Run returns, so
// allow shutdown the delivery timeout.
func (w *Worker) Run(ctx context.Context) {
	timer := time.NewTimer(w.poll)
	defer timer.Stop()
	for {
		n, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.logger.ErrorContext(ctx, "outbox: worker", "error", err)
		}
		if err == nil && n == w.batch {
			continue // a full batch: more may be due
		}
		timer.Reset(w.poll)
		select {
		case <-ctx.Done():
			return
		case <-w.queue.nudge:
		case <-timer.C:
		}
	}
}

// RunOnce claims one batch of due messages, delivers them and records each
// outcome. It returns how many messages it claimed; the error is a store
// error (a failed delivery is an outcome, not an error).
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	rows, err := w.queue.store.Claim(ctx, w.now(), w.batch, w.lease)
	if err != nil {
		return 0, fmt.Errorf("delivery: worker: %w", err)
	}
	var g errgroup.Group
	g.SetLimit(w.concurrency)
	for _, r := range rows {
		g.Go(func() error { return w.process(ctx, r) })
	}
	return len(rows), g.Wait()
}

// process makes one attempt at r and records the outcome. It runs to the
// end even when ctx ends: the claim is taken, and abandoning the attempt
// halfway would leave a message delivered but not marked sent, to be sent
// again when the lease ends.
func (w *Worker) process(ctx context.Context, r Row) error {
	ctx = context.WithoutCancel(ctx)
	if r.Attempts > w.maxAttempts {
		// Only claims that never reported back get a row here: the attempt
		// that reaches the maximum abandons it. A message that crashes or
		// stalls every worker stops here.
		return w.fail(ctx, r, nil, Permanent(fmt.Errorf(
			"gave up after %d attempts, the last of which recorded no outcome (its worker crashed or outlived its lease)", r.Attempts-1)))
	}
	vars, err := w.queue.open(r.ID, r.VariablesSealed)
	if err != nil {
		// A wrong key is a misconfiguration: retrying on this instance
		// cannot help; after fixing it, `authd outbox retry` resends.
		return w.fail(ctx, r, nil, Permanent(err))
	}
	subject, text, htmlBody, err := w.templates.Render(r.Template, r.Locale, vars)
	if err != nil {
		return w.fail(ctx, r, vars, Permanent(err))
	}
	p, ok := w.providers[r.Channel]
	if !ok {
		return w.fail(ctx, r, vars, Permanent(fmt.Errorf("no provider for channel %q", r.Channel)))
	}
	dctx, cancel := context.WithTimeout(ctx, w.timeout)
	err = p.Deliver(dctx, Envelope{
		ID: r.ID, Channel: r.Channel, To: r.Recipient, Template: r.Template, Locale: r.Locale,
		Subject: subject, Text: text, HTML: htmlBody, Variables: vars,
	})
	cancel()
	if err != nil {
		return w.fail(ctx, r, vars, err)
	}
	w.metrics.countSent()
	mctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	err = w.queue.store.MarkSent(mctx, r.ID, w.now())
	w.log(ctx, slog.LevelInfo, "outbox: message sent", r)
	return w.recorded(ctx, r, err)
}

// fail records a failed attempt: a retry after a backoff, or abandonment
// when the failure is permanent or the attempts are used up. vars are the
// message's variables, whose values are removed from the recorded error.
func (w *Worker) fail(ctx context.Context, r Row, vars map[string]string, cause error) error {
	permanent := IsPermanent(cause)
	w.metrics.countFailure(permanent)
	lastError := redactVariables(cause.Error(), vars)
	now := w.now()
	mctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	if permanent || r.Attempts >= w.maxAttempts {
		err := w.queue.store.MarkAbandoned(mctx, r.ID, r.Attempts, lastError, now)
		w.log(ctx, slog.LevelError, "outbox: message abandoned", r, slog.String("error", lastError))
		return w.recorded(ctx, r, err)
	}
	delay := w.backoff.delay(r.Attempts)
	err := w.queue.store.MarkRetry(mctx, r.ID, r.Attempts, now.Add(delay), lastError, now)
	w.log(ctx, slog.LevelWarn, "outbox: delivery failed, will retry", r,
		slog.String("error", lastError), slog.Duration("retry_in", delay))
	return w.recorded(ctx, r, err)
}

// recorded handles the store's answer to an outcome. A lost lease is not an
// error: another worker owns the message now and records its own outcome.
func (w *Worker) recorded(ctx context.Context, r Row, err error) error {
	switch {
	case errors.Is(err, ErrLeaseLost):
		w.log(ctx, slog.LevelWarn, "outbox: outcome dropped: another worker took the message over", r)
		return nil
	case err != nil:
		return fmt.Errorf("delivery: record outcome of message %s: %w", r.ID, err)
	}
	return nil
}

// log logs an outcome of r without secrets: the recipient masked, no
// variables, the error already redacted.
func (w *Worker) log(ctx context.Context, level slog.Level, msg string, r Row, extra ...slog.Attr) {
	attrs := []slog.Attr{
		slog.String("id", r.ID),
		slog.String("template", r.Template),
		slog.String("channel", string(r.Channel)),
		slog.String("to", maskRecipient(r.Recipient)),
		slog.Int("attempt", r.Attempts),
	}
	w.logger.LogAttrs(ctx, level, msg, append(attrs, extra...)...)
}

// publicVariables may appear in a recorded error; every other variable's
// value is removed, so one added by a later template is secret until
// someone decides otherwise.
var publicVariables = map[string]bool{"app_name": true, "expiry": true, "link_expiry": true}

// minRedacted is the shortest value redacted: shorter ones are no secret,
// and replacing them would garble the error.
const minRedacted = 4

// redactVariables removes from a provider's error text the values of the
// message's variables, in the forms a provider echoing its request would
// use (raw, HTML, JSON and URL encoded), then bounds its length. The
// providers should not echo requests; this is the backstop that keeps a
// code out of last_error and the logs if one does.
func redactVariables(s string, vars map[string]string) string {
	var secrets []string
	for k, v := range vars {
		if !publicVariables[k] && len(v) >= minRedacted {
			quoted, _ := json.Marshal(v) // cannot fail for a string
			secrets = append(secrets, v, html.EscapeString(v), string(quoted[1:len(quoted)-1]), url.QueryEscape(v))
		}
	}
	// Longest first, so a value containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	if len(s) > maxLastError {
		cut := maxLastError
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// maskRecipient keeps enough of an address to tell messages apart in logs
// without logging whom authd writes to: "a***@example.com", "***7890".
func maskRecipient(to string) string {
	if at := strings.LastIndexByte(to, '@'); at > 0 {
		_, n := utf8.DecodeRuneInString(to)
		return to[:n] + "***" + to[at:]
	}
	if len(to) > 6 {
		return "***" + to[len(to)-4:]
	}
	return "***"
}
