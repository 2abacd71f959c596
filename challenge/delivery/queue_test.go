package delivery_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/internal/testclock"
)

var (
	testKey   = bytes.Repeat([]byte{0x42}, 32)
	testStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

const (
	testOTP  = "314159"
	testLink = "https://id.example.com/verify?token=tok_s3cr3t&u=1"
)

// rig is a queue on a store, with a test clock.
type rig struct {
	store delivery.Store
	queue *delivery.Queue
	clock *testclock.Clock
}

func newRig(t *testing.T, store delivery.Store, opts ...delivery.QueueOption) *rig {
	t.Helper()
	clock := testclock.New(testStart)
	q, err := delivery.NewQueue(store, testKey, append([]delivery.QueueOption{delivery.QueueClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	return &rig{store: store, queue: q, clock: clock}
}

// signupEmail is a message carrying both kinds of secret: a code and a link.
func signupEmail(to, otp string) challenge.Message {
	return challenge.Message{
		Channel:  challenge.ChannelEmail,
		To:       to,
		Template: challenge.TemplateSignupEmail,
		Variables: map[string]string{
			"otp": otp, "expiry": "5 minutes", "link": testLink, "link_expiry": "24 hours",
		},
	}
}

func (r *rig) send(t *testing.T, m challenge.Message) {
	t.Helper()
	if err := r.queue.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// rows returns every row, oldest first.
func (r *rig) rows(t *testing.T) []delivery.Row {
	t.Helper()
	rows, err := r.store.List(context.Background(), "", 1000)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return rows
}

func (r *rig) only(t *testing.T) delivery.Row {
	t.Helper()
	rows := r.rows(t)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	return rows[0]
}

func TestQueueSendEnqueuesSealed(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t), delivery.QueueLocale("pt_BR"))
			r.send(t, signupEmail("ada@example.com", testOTP))
			row := r.only(t)
			if row.Status != delivery.StatusPending || row.Attempts != 0 || !row.NextAttemptAt.Equal(testStart) ||
				row.Channel != challenge.ChannelEmail || row.Recipient != "ada@example.com" ||
				row.Template != challenge.TemplateSignupEmail || row.Locale != "pt-br" {
				t.Errorf("row = %+v, want pending, due now, as sent", row)
			}
			if bytes.Contains(row.VariablesSealed, []byte(testOTP)) || bytes.Contains(row.VariablesSealed, []byte("tok_s3cr3t")) {
				t.Error("the stored variables hold the code or the link in clear")
			}
		})
	}
}

func TestQueueSendRejects(t *testing.T) {
	r := newRig(t, delivery.NewMemoryStore())
	good := signupEmail("ada@example.com", testOTP)
	for name, change := range map[string]func(*challenge.Message){
		"unknown channel":  func(m *challenge.Message) { m.Channel = "pigeon" },
		"no recipient":     func(m *challenge.Message) { m.To = "" },
		"unknown template": func(m *challenge.Message) { m.Template = "password_reset" },
	} {
		m := good
		change(&m)
		if err := r.queue.Send(context.Background(), m); err == nil {
			t.Errorf("%s: Send succeeded", name)
		}
	}
	if rows := r.rows(t); len(rows) != 0 {
		t.Errorf("rejected messages were queued: %d rows", len(rows))
	}
}

func TestNewQueueRejects(t *testing.T) {
	store := delivery.NewMemoryStore()
	if _, err := delivery.NewQueue(store, testKey[:31]); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("NewQueue(31-byte key) = %v, want a key length error", err)
	}
	if _, err := delivery.NewQueue(nil, testKey); err == nil {
		t.Error("NewQueue(nil store) succeeded")
	}
	if _, err := delivery.NewQueue(store, testKey, delivery.QueueLocale("../x")); err == nil {
		t.Error("NewQueue(bad locale) succeeded")
	}
}
