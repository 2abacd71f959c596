package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/authd/authd/internal/random"
)

// outboxCapacity bounds the outbox: enough to read back a test run, small
// enough that a long-running development server does not grow.
const outboxCapacity = 200

// Outbox is the development Sender: it delivers nothing, keeps the last 200
// messages in memory for GET /debug/outbox and logs each one. It holds
// codes in clear text, so it is for development and tests only.
type Outbox struct {
	logger     *slog.Logger
	logSecrets bool
	now        func() time.Time

	mu sync.Mutex
	// ring holds the messages, oldest at ring[next] once it is full.
	ring []Message
	next int
}

var (
	_ Sender       = (*Outbox)(nil)
	_ http.Handler = (*Outbox)(nil)
)

// OutboxOption configures an Outbox.
type OutboxOption func(*Outbox)

// LogSecrets makes the outbox log message bodies and secret variables (otp,
// link, token) so a developer can read codes in the server log. Off, they
// are logged as [redacted].
func LogSecrets(on bool) OutboxOption { return func(o *Outbox) { o.logSecrets = on } }

// OutboxClock sets the clock that stamps CreatedAt (default time.Now).
func OutboxClock(now func() time.Time) OutboxOption { return func(o *Outbox) { o.now = now } }

// NewOutbox returns an empty Outbox that logs to logger (slog.Default when
// nil).
func NewOutbox(logger *slog.Logger, opts ...OutboxOption) *Outbox {
	if logger == nil {
		logger = slog.Default()
	}
	o := &Outbox{logger: logger, now: time.Now, ring: make([]Message, 0, outboxCapacity)}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Send records m with a fresh ID and CreatedAt. It rejects what a real
// sender would, so mistakes show up in development rather than production.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	switch {
	case m.Channel != ChannelEmail && m.Channel != ChannelSMS:
		return fmt.Errorf("challenge: outbox send: unknown channel %q", m.Channel)
	case m.To == "":
		return errors.New("challenge: outbox send: no recipient")
	}
	id, err := random.UUID(nil)
	if err != nil {
		return fmt.Errorf("challenge: outbox send: %w", err)
	}
	m.ID = id
	m.CreatedAt = o.now()
	m.Variables = cloneVariables(m.Variables)

	o.mu.Lock()
	if len(o.ring) < outboxCapacity {
		o.ring = append(o.ring, m)
	} else {
		o.ring[o.next] = m
		o.next = (o.next + 1) % outboxCapacity
	}
	o.mu.Unlock()

	o.logger.LogAttrs(ctx, slog.LevelInfo, "outbox: message captured", m.logAttrs(o.logSecrets)...)
	return nil
}

// Messages returns a copy of the captured messages, newest last.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Message, 0, len(o.ring))
	out = append(out, o.ring[o.next:]...)
	out = append(out, o.ring[:o.next]...)
	for i := range out {
		out[i].Variables = cloneVariables(out[i].Variables)
	}
	return out
}

// ServeHTTP answers GET (and HEAD) with the captured messages as a JSON
// array, newest last.
func (o *Outbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	body, err := json.Marshal(o.Messages())
	if err != nil {
		// Messages hold only strings and times; this cannot fail.
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// The response carries live codes.
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}

// cloneVariables gives the outbox its own map, so neither the sender nor a
// reader of Messages can change a captured message, and encodes as {} when
// there are no variables.
func cloneVariables(v map[string]string) map[string]string {
	if v == nil {
		return map[string]string{}
	}
	return maps.Clone(v)
}
