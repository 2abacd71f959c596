package delivery

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/internal/random"
)

const (
	minKeyBytes = 32
	// sealKeyInfo derives the outbox's own key from the configured one, so
	// sharing that key with other uses reveals nothing.
	sealKeyInfo    = "authd outbox-seal v1"
	defaultAppName = "authd"
)

// errUnseal is what every failed open returns. GCM cannot tell a wrong key
// from variables moved to another row or tampered bytes, so the message
// names all three.
var errUnseal = errors.New("delivery: cannot unseal message variables: wrong key, wrong message id or corrupted data")

// Queue is the challenge.Sender of authd: Send writes the message to the
// outbox and returns; a [Worker] delivers it. A request therefore waits for
// one store write, never for a provider, and a message survives a provider
// outage or a restart.
//
// Variables (codes, link tokens) are stored sealed with AES-256-GCM under a
// key derived from the one given to [NewQueue], bound to the message ID.
// They are sealed once, so every retry carries the same code and a resend
// never invalidates a code the user may already have received.
type Queue struct {
	store   Store
	aead    cipher.AEAD
	now     func() time.Time
	rand    io.Reader
	locale  string
	appName string
	// nudge wakes this process's workers when a message is queued, so
	// delivery starts at once rather than at the next poll.
	nudge chan struct{}
}

var _ challenge.Sender = (*Queue)(nil)

// QueueOption configures a Queue.
type QueueOption func(*Queue)

// QueueClock sets the clock messages are stamped and scheduled with
// (default time.Now).
func QueueClock(now func() time.Time) QueueOption { return func(q *Queue) { q.now = now } }

// QueueRandom sets the source message IDs are drawn from (default
// crypto/rand).
func QueueRandom(r io.Reader) QueueOption { return func(q *Queue) { q.rand = r } }

// QueueLocale sets the locale messages are rendered in (default "en").
// challenge.Message carries no locale yet, so it applies to every message.
func QueueLocale(locale string) QueueOption { return func(q *Queue) { q.locale = locale } }

// QueueAppName sets the app_name variable of messages that do not set it
// (default "authd").
func QueueAppName(name string) QueueOption { return func(q *Queue) { q.appName = name } }

// NewQueue returns a Queue writing to store. key must be at least 32
// secret bytes, the same on every instance (any instance's worker opens
// what another queued) and kept stable: a new key makes queued messages
// unreadable, and they are abandoned.
func NewQueue(store Store, key []byte, opts ...QueueOption) (*Queue, error) {
	q := &Queue{
		store:   store,
		now:     time.Now,
		locale:  DefaultLocale,
		appName: defaultAppName,
		nudge:   make(chan struct{}, 1),
	}
	for _, opt := range opts {
		opt(q)
	}
	q.locale = normalizeLocale(q.locale)
	switch {
	case store == nil:
		return nil, errors.New("delivery: new queue: nil store")
	case len(key) < minKeyBytes:
		return nil, fmt.Errorf("delivery: new queue: key is %d bytes, need at least %d", len(key), minKeyBytes)
	case !validLocale(q.locale):
		return nil, fmt.Errorf("delivery: new queue: invalid locale %q", q.locale)
	}
	sealKey, err := hkdf.Key(sha256.New, key, nil, sealKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("delivery: new queue: derive seal key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("delivery: new queue: %w", err)
	}
	// The random-nonce mode draws and prepends a 96-bit nonce per seal.
	// GCM's limit of 2^32 random nonces per key is eleven years away at a
	// million messages a day.
	q.aead, err = cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("delivery: new queue: %w", err)
	}
	return q, nil
}

// Send queues m for delivery, due now, and wakes the local worker. It
// checks what would make the message undeliverable (channel, recipient,
// template) but renders nothing and calls no provider. m.ID, m.Subject and
// m.Body are ignored: the message gets a fresh ID and is rendered from
// [Templates] when delivered.
func (q *Queue) Send(ctx context.Context, m challenge.Message) error {
	switch {
	case m.Channel != challenge.ChannelEmail && m.Channel != challenge.ChannelSMS:
		return fmt.Errorf("delivery: queue: unknown channel %q", m.Channel)
	case m.To == "":
		return errors.New("delivery: queue: no recipient")
	case !slices.Contains(templateNames, m.Template):
		return fmt.Errorf("delivery: queue: unknown template %q", m.Template)
	}
	id, err := random.UUID(q.rand)
	if err != nil {
		return fmt.Errorf("delivery: queue %s: %w", m.Template, err)
	}
	vars := maps.Clone(m.Variables)
	if vars == nil {
		vars = make(map[string]string, 1)
	}
	if _, ok := vars["app_name"]; !ok {
		vars["app_name"] = q.appName
	}
	sealed, err := q.seal(id, vars)
	if err != nil {
		return fmt.Errorf("delivery: queue %s: %w", m.Template, err)
	}
	now := q.now()
	err = q.store.Enqueue(ctx, Row{
		ID:              id,
		Channel:         m.Channel,
		Recipient:       m.To,
		Template:        m.Template,
		Locale:          q.locale,
		VariablesSealed: sealed,
		Status:          StatusPending,
		NextAttemptAt:   now,
		CreatedAt:       now,
		UpdatedAt:       now,
	})
	if err != nil {
		return fmt.Errorf("delivery: queue %s: %w", m.Template, err)
	}
	select {
	case q.nudge <- struct{}{}:
	default: // a wake-up is already pending; it will see this row too
	}
	return nil
}

// seal encrypts vars for message id. The ID is additional data, so sealed
// variables copied into another row do not open.
func (q *Queue) seal(id string, vars map[string]string) ([]byte, error) {
	plain, err := json.Marshal(vars)
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	defer clear(plain)
	return q.aead.Seal(nil, nil, plain, []byte(id)), nil
}

// open reverses seal.
func (q *Queue) open(id string, sealed []byte) (map[string]string, error) {
	plain, err := q.aead.Open(nil, nil, sealed, []byte(id))
	if err != nil {
		return nil, errUnseal
	}
	defer clear(plain)
	var vars map[string]string
	if err := json.Unmarshal(plain, &vars); err != nil {
		return nil, fmt.Errorf("delivery: decode message variables: %w", err)
	}
	return vars, nil
}
