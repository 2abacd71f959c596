package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
)

// fakeProvider records every envelope it is given and answers with
// fail(ctx, n, e) for the nth call (from 1), success when fail returns nil.
type fakeProvider struct {
	fail func(ctx context.Context, n int, e delivery.Envelope) error

	mu        sync.Mutex
	calls     []delivery.Envelope
	delivered map[string]int // message ID -> successful deliveries
}

func (p *fakeProvider) Deliver(ctx context.Context, e delivery.Envelope) error {
	p.mu.Lock()
	p.calls = append(p.calls, e)
	n := len(p.calls)
	p.mu.Unlock()
	if p.fail != nil {
		if err := p.fail(ctx, n, e); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.delivered == nil {
		p.delivered = make(map[string]int)
	}
	p.delivered[e.ID]++
	return nil
}

func (p *fakeProvider) envelopes() []delivery.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]delivery.Envelope(nil), p.calls...)
}

func (p *fakeProvider) successes() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.delivered))
	for id, n := range p.delivered {
		out[id] = n
	}
	return out
}

// echoingError is what a careless provider might return: its request,
// code and link included.
func echoingError(e delivery.Envelope) error {
	return fmt.Errorf("email service: 503: request was {\"otp\":%q,\"link\":%q}", e.Variables["otp"], e.Variables["link"])
}

// syncBuffer collects log output from concurrent deliveries.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (r *rig) worker(t *testing.T, p delivery.Provider, opts ...delivery.WorkerOption) *delivery.Worker {
	t.Helper()
	base := []delivery.WorkerOption{delivery.WorkerClock(r.clock.Now), delivery.WorkerLogger(slog.New(slog.DiscardHandler))}
	w, err := delivery.NewWorker(r.queue, newTemplates(t, ""),
		map[challenge.Channel]delivery.Provider{challenge.ChannelEmail: p, challenge.ChannelSMS: p},
		append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	return w
}

func runOnce(t *testing.T, w *delivery.Worker, wantClaimed int) {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if n != wantClaimed {
		t.Fatalf("RunOnce claimed %d, want %d", n, wantClaimed)
	}
}

// TestWorkerRetriesThenDelivers: a provider failing the first calls gets
// the same code every time, with a growing backoff within the jitter bound,
// and delivers once; nothing secret reaches the row or the log.
func TestWorkerRetriesThenDelivers(t *testing.T) {
	const failures = 4
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			var logs syncBuffer
			p := &fakeProvider{fail: func(_ context.Context, n int, e delivery.Envelope) error {
				if n <= failures {
					return echoingError(e)
				}
				return nil
			}}
			w := r.worker(t, p, delivery.WorkerRandom(rand.NewPCG(1, 2)),
				delivery.WorkerLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			r.send(t, signupEmail("ada@example.com", testOTP))

			for attempt := 1; attempt <= failures; attempt++ {
				runOnce(t, w, 1)
				row := r.only(t)
				if row.Status != delivery.StatusPending || row.Attempts != attempt {
					t.Fatalf("after failure %d: status %s, attempts %d", attempt, row.Status, row.Attempts)
				}
				// Full jitter: anywhere from now to 2 s·2^(n-1) (plus
				// PostgreSQL's rounding to microseconds).
				delay, ceiling := row.NextAttemptAt.Sub(r.clock.Now()), 2*time.Second<<(attempt-1)
				if delay < -time.Microsecond || delay > ceiling+time.Microsecond {
					t.Errorf("attempt %d: retry in %v, want within [0, %v]", attempt, delay, ceiling)
				}
				if strings.Contains(row.LastError, testOTP) || strings.Contains(row.LastError, "tok_s3cr3t") ||
					!strings.Contains(row.LastError, "[redacted]") || !strings.Contains(row.LastError, "503") {
					t.Errorf("last_error = %q, want the cause with code and link redacted", row.LastError)
				}
				// Not due before its time.
				if delay > time.Millisecond {
					runOnce(t, w, 0)
				}
				r.clock.Set(row.NextAttemptAt)
			}
			runOnce(t, w, 1)

			row := r.only(t)
			if row.Status != delivery.StatusSent || row.Attempts != failures+1 || row.VariablesSealed != nil ||
				!row.SentAt.Equal(r.clock.Now()) {
				t.Errorf("row = %+v, want sent at attempt %d with variables wiped", row, failures+1)
			}
			calls := p.envelopes()
			if len(calls) != failures+1 {
				t.Fatalf("%d calls, want %d", len(calls), failures+1)
			}
			for i, e := range calls {
				if e.Variables["otp"] != testOTP || e.Variables["link"] != testLink || e.ID != row.ID {
					t.Errorf("call %d carried otp %q link %q id %s; every attempt must carry the same", i+1, e.Variables["otp"], e.Variables["link"], e.ID)
				}
			}
			e := calls[len(calls)-1]
			if e.Subject != "Verify your email address for authd" || !strings.Contains(e.Text, testOTP) ||
				!strings.Contains(e.HTML, testOTP) || e.To != "ada@example.com" || e.Locale != "en" ||
				e.Template != challenge.TemplateSignupEmail || e.Channel != challenge.ChannelEmail {
				t.Errorf("envelope = %+v", e)
			}
			if got := p.successes(); len(got) != 1 || got[row.ID] != 1 {
				t.Errorf("successful deliveries = %v, want exactly one", got)
			}

			out := logs.String()
			for _, secret := range []string{testOTP, "tok_s3cr3t", "ada@example.com"} {
				if strings.Contains(out, secret) {
					t.Errorf("log holds %q:\n%s", secret, out)
				}
			}
			if strings.Count(out, "will retry") != failures || strings.Count(out, "message sent") != 1 ||
				!strings.Contains(out, "a***@example.com") {
				t.Errorf("log does not record each outcome with the masked recipient:\n%s", out)
			}
		})
	}
}

func TestWorkerPermanentFailure(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			p := &fakeProvider{fail: func(context.Context, int, delivery.Envelope) error {
				return delivery.Permanent(errors.New("550 5.1.1 mailbox unavailable"))
			}}
			w := r.worker(t, p)
			r.send(t, signupEmail("ada@example.com", testOTP))
			runOnce(t, w, 1)
			row := r.only(t)
			if row.Status != delivery.StatusAbandoned || row.Attempts != 1 || !strings.Contains(row.LastError, "550") {
				t.Errorf("row = %+v, want abandoned after 1 attempt", row)
			}
			r.clock.Advance(24 * time.Hour)
			runOnce(t, w, 0)
			if n := len(p.envelopes()); n != 1 {
				t.Errorf("%d calls, want 1: a permanent failure is not retried", n)
			}
		})
	}
}

func TestWorkerMaxAttempts(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			p := &fakeProvider{fail: func(context.Context, int, delivery.Envelope) error { return errors.New("connection refused") }}
			w := r.worker(t, p, delivery.WorkerMaxAttempts(3))
			r.send(t, signupEmail("ada@example.com", testOTP))
			for range 3 {
				runOnce(t, w, 1)
				r.clock.Advance(time.Hour)
			}
			runOnce(t, w, 0)
			row := r.only(t)
			if row.Status != delivery.StatusAbandoned || row.Attempts != 3 || row.LastError != "connection refused" {
				t.Errorf("row = %+v, want abandoned after 3 attempts", row)
			}
			if n := len(p.envelopes()); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
		})
	}
}

// TestWorkerAbandonsAfterCrashedAttempts: claims that never report back
// (a message that crashes every worker) count as attempts, so the message
// is abandoned in the end instead of taking workers down forever.
func TestWorkerAbandonsAfterCrashedAttempts(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			p := &fakeProvider{}
			w := r.worker(t, p, delivery.WorkerMaxAttempts(2))
			r.send(t, signupEmail("ada@example.com", testOTP))
			for range 2 { // two workers die holding the message
				if rows, err := r.store.Claim(context.Background(), r.clock.Now(), 1, 2*time.Minute); err != nil || len(rows) != 1 {
					t.Fatalf("Claim = %d rows, %v", len(rows), err)
				}
				r.clock.Advance(2 * time.Minute)
			}
			runOnce(t, w, 1)
			row := r.only(t)
			if row.Status != delivery.StatusAbandoned || row.Attempts != 3 || !strings.Contains(row.LastError, "gave up after 2 attempts") {
				t.Errorf("row = %+v, want abandoned without another attempt", row)
			}
			if n := len(p.envelopes()); n != 0 {
				t.Errorf("provider called %d times", n)
			}
		})
	}
}

func TestWorkerHangingProvider(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			p := &fakeProvider{fail: func(ctx context.Context, n int, _ delivery.Envelope) error {
				if n == 1 {
					<-ctx.Done() // hangs until the worker's timeout
					return ctx.Err()
				}
				return nil
			}}
			w := r.worker(t, p, delivery.WorkerTimeout(50*time.Millisecond))
			r.send(t, signupEmail("ada@example.com", testOTP))

			start := time.Now()
			runOnce(t, w, 1)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("RunOnce took %v with a 50ms delivery timeout", d)
			}
			row := r.only(t)
			if row.Status != delivery.StatusPending || !strings.Contains(row.LastError, "deadline exceeded") {
				t.Fatalf("row = %+v, want pending after a timeout", row)
			}
			r.clock.Set(row.NextAttemptAt)
			runOnce(t, w, 1)
			if row := r.only(t); row.Status != delivery.StatusSent || row.Attempts != 2 {
				t.Errorf("row = %+v, want sent at attempt 2", row)
			}
		})
	}
}

// TestWorkerCrashRecovery: a worker claims a message and never finishes;
// once the lease has passed another worker delivers it, and the first
// worker's late outcome is dropped.
func TestWorkerCrashRecovery(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			called, release := make(chan struct{}), make(chan struct{})
			stalled := &fakeProvider{fail: func(context.Context, int, delivery.Envelope) error {
				close(called)
				<-release // stands for a process that stopped
				return errors.New("too late")
			}}
			a := r.worker(t, stalled, delivery.WorkerBatch(1), delivery.WorkerTimeout(time.Minute))
			healthy := &fakeProvider{}
			b := r.worker(t, healthy)
			r.send(t, signupEmail("ada@example.com", testOTP))

			done := make(chan error)
			go func() {
				_, err := a.RunOnce(context.Background())
				done <- err
			}()
			<-called
			runOnce(t, b, 0) // within the lease, nothing for b
			r.clock.Advance(2 * time.Minute)
			runOnce(t, b, 1)

			close(release)
			if err := <-done; err != nil {
				t.Fatalf("stalled worker's RunOnce: %v", err)
			}
			row := r.only(t)
			if row.Status != delivery.StatusSent || row.Attempts != 2 {
				t.Errorf("row = %+v, want sent by the second worker at attempt 2", row)
			}
			got := healthy.envelopes()
			if len(got) != 1 || got[0].Variables["otp"] != testOTP || got[0].ID != stalled.envelopes()[0].ID {
				t.Errorf("second worker got %+v, want the same message and code", got)
			}
		})
	}
}

// TestWorkerOutage: 200 messages queued while the provider is down are all
// delivered, each exactly once, once it is back.
func TestWorkerOutage(t *testing.T) {
	const messages = 200
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			var down atomic.Bool
			down.Store(true)
			p := &fakeProvider{fail: func(_ context.Context, _ int, e delivery.Envelope) error {
				if down.Load() {
					return errors.New("503 service unavailable")
				}
				return nil
			}}
			w := r.worker(t, p, delivery.WorkerBatch(50), delivery.WorkerConcurrency(8), delivery.WorkerTimeout(5*time.Second))
			otps := make(map[string]string, messages) // recipient -> code
			for i := range messages {
				to, otp := fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("%06d", i)
				otps[to] = otp
				r.send(t, signupEmail(to, otp))
			}

			drain := func() {
				t.Helper()
				for {
					n, err := w.RunOnce(context.Background())
					if err != nil {
						t.Fatalf("RunOnce: %v", err)
					}
					if n == 0 {
						return
					}
				}
			}
			for range 3 {
				drain()
				r.clock.Advance(time.Hour) // past every backoff
			}
			down.Store(false)
			for range 3 {
				drain()
				r.clock.Advance(time.Hour)
			}

			st, err := r.store.Stats(context.Background(), r.clock.Now())
			if err != nil || st.Pending != 0 || st.Abandoned != 0 {
				t.Fatalf("Stats = %+v, %v; want nothing pending or abandoned", st, err)
			}
			delivered := p.successes()
			if len(delivered) != messages {
				t.Errorf("%d messages delivered, want %d", len(delivered), messages)
			}
			for id, n := range delivered {
				if n != 1 {
					t.Errorf("message %s delivered %d times", id, n)
				}
			}
			for _, e := range p.envelopes() {
				if e.Variables["otp"] != otps[e.To] {
					t.Fatalf("%s got code %s, want %s", e.To, e.Variables["otp"], otps[e.To])
				}
			}
			for _, row := range r.rows(t) {
				if row.Status != delivery.StatusSent || row.VariablesSealed != nil || row.Attempts != 4 {
					t.Fatalf("row = %+v, want sent at attempt 4 with variables wiped", row)
				}
			}
		})
	}
}

// TestWorkerRetryAbandoned: an abandoned message keeps its sealed
// variables, so once the cause is fixed Retry sends it with its code.
func TestWorkerRetryAbandoned(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			r := newRig(t, st.new(t))
			var broken atomic.Bool
			broken.Store(true)
			p := &fakeProvider{fail: func(context.Context, int, delivery.Envelope) error {
				if broken.Load() {
					return delivery.Permanent(errors.New("401 invalid API key"))
				}
				return nil
			}}
			w := r.worker(t, p)
			r.send(t, signupEmail("ada@example.com", testOTP))
			runOnce(t, w, 1)
			if row := r.only(t); row.Status != delivery.StatusAbandoned || row.VariablesSealed == nil {
				t.Fatalf("row = %+v, want abandoned with sealed variables", row)
			}

			broken.Store(false)
			if n, err := r.store.Retry(context.Background(), nil, r.clock.Now()); err != nil || n != 1 {
				t.Fatalf("Retry = %d, %v", n, err)
			}
			runOnce(t, w, 1)
			row := r.only(t)
			if row.Status != delivery.StatusSent || row.VariablesSealed != nil {
				t.Errorf("row = %+v, want sent with variables wiped", row)
			}
			if calls := p.envelopes(); calls[len(calls)-1].Variables["otp"] != testOTP {
				t.Errorf("retried message carried otp %q, want %q", calls[len(calls)-1].Variables["otp"], testOTP)
			}
		})
	}
}

func TestWorkerUndeliverable(t *testing.T) {
	for name, tc := range map[string]struct {
		msg       challenge.Message
		emailOnly bool
		otherKey  bool
		wantError string
	}{
		"missing variable": {
			msg:       challenge.Message{Channel: challenge.ChannelSMS, To: "+441234567890", Template: challenge.TemplateLoginCode, Variables: map[string]string{"expiry": "5 minutes"}},
			wantError: "otp",
		},
		"no provider for channel": {
			msg:       challenge.Message{Channel: challenge.ChannelSMS, To: "+441234567890", Template: challenge.TemplateLoginCode, Variables: map[string]string{"otp": testOTP, "expiry": "5 minutes"}},
			emailOnly: true,
			wantError: "no provider",
		},
		"worker with another key": {
			msg:       signupEmail("ada@example.com", testOTP),
			otherKey:  true,
			wantError: "cannot unseal",
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, delivery.NewMemoryStore())
			p := &fakeProvider{}
			providers := map[challenge.Channel]delivery.Provider{challenge.ChannelEmail: p}
			if !tc.emailOnly {
				providers[challenge.ChannelSMS] = p
			}
			q := r.queue
			if tc.otherKey {
				var err error
				if q, err = delivery.NewQueue(r.store, bytes.Repeat([]byte{7}, 32)); err != nil {
					t.Fatal(err)
				}
			}
			w, err := delivery.NewWorker(q, newTemplates(t, ""), providers,
				delivery.WorkerClock(r.clock.Now), delivery.WorkerLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			r.send(t, tc.msg)
			runOnce(t, w, 1)
			row := r.only(t)
			if row.Status != delivery.StatusAbandoned || row.Attempts != 1 || !strings.Contains(row.LastError, tc.wantError) {
				t.Errorf("row = %+v, want abandoned at once for %q", row, tc.wantError)
			}
			if strings.Contains(row.LastError, testOTP) {
				t.Errorf("last_error holds the code: %q", row.LastError)
			}
			if n := len(p.envelopes()); n != 0 {
				t.Errorf("provider called %d times", n)
			}
		})
	}
}

// TestWorkerRunWakesOnSend: Run delivers a message queued by this process
// at once, though its poll interval is an hour, and returns when its
// context ends.
func TestWorkerRunWakesOnSend(t *testing.T) {
	r := newRig(t, delivery.NewMemoryStore())
	delivered := make(chan struct{}, 1)
	p := &fakeProvider{fail: func(context.Context, int, delivery.Envelope) error {
		delivered <- struct{}{}
		return nil
	}}
	w := r.worker(t, p, delivery.WorkerPoll(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(stopped)
	}()
	time.Sleep(20 * time.Millisecond) // let Run go idle first
	r.send(t, signupEmail("ada@example.com", testOTP))
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not deliver a queued message")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestNewWorkerRejects(t *testing.T) {
	r := newRig(t, delivery.NewMemoryStore())
	tpl := newTemplates(t, "")
	email := map[challenge.Channel]delivery.Provider{challenge.ChannelEmail: &fakeProvider{}}
	for name, tc := range map[string]struct {
		providers map[challenge.Channel]delivery.Provider
		opts      []delivery.WorkerOption
	}{
		"no providers":          {providers: nil},
		"nil provider":          {providers: map[challenge.Channel]delivery.Provider{challenge.ChannelEmail: nil}},
		"zero attempts":         {providers: email, opts: []delivery.WorkerOption{delivery.WorkerMaxAttempts(0)}},
		"cap below base":        {providers: email, opts: []delivery.WorkerOption{delivery.WorkerBackoff(time.Minute, time.Second)}},
		"lease shorter than 2×": {providers: email, opts: []delivery.WorkerOption{delivery.WorkerLease(time.Minute)}},
		"zero concurrency":      {providers: email, opts: []delivery.WorkerOption{delivery.WorkerConcurrency(0)}},
	} {
		if _, err := delivery.NewWorker(r.queue, tpl, tc.providers, tc.opts...); err == nil {
			t.Errorf("%s: NewWorker succeeded", name)
		}
	}
	if _, err := delivery.NewWorker(r.queue, tpl, email); err != nil {
		t.Errorf("NewWorker with defaults: %v", err)
	}
}
