package delivery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/internal/random"
)

// gather returns the value of every outbox series, keyed by name and, for
// the failures counter, by its permanent label.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	store := delivery.NewMemoryStore()
	reg := prometheus.NewRegistry()
	m, err := delivery.RegisterMetrics(reg, store)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, store)
	// A message waiting since 90 s ago by the wall clock, which scrapes use,
	// and not due for the worker's test clock.
	id, err := random.UUID(nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-90 * time.Second)
	if err := store.Enqueue(context.Background(), delivery.Row{
		ID: id, Channel: challenge.ChannelEmail, Recipient: "old@example.com", Template: challenge.TemplateSignupNotice,
		Locale: "en", Status: delivery.StatusPending, NextAttemptAt: testStart.Add(24 * time.Hour),
		CreatedAt: created, UpdatedAt: created,
	}); err != nil {
		t.Fatal(err)
	}

	p := &fakeProvider{fail: func(_ context.Context, _ int, e delivery.Envelope) error {
		switch e.To {
		case "refused@example.com":
			return delivery.Permanent(errors.New("550 no such user"))
		case "down@example.com":
			return errors.New("503")
		}
		return nil
	}}
	w := r.worker(t, p, delivery.WorkerMetrics(m))
	for _, to := range []string{"ok@example.com", "refused@example.com", "down@example.com"} {
		r.send(t, signupEmail(to, testOTP))
	}
	runOnce(t, w, 3)

	got := gather(t, reg)
	for name, want := range map[string]float64{
		"authd_outbox_sent_total":                      1,
		"authd_outbox_failures_total{permanent=true}":  1,
		"authd_outbox_failures_total{permanent=false}": 1,
		"authd_outbox_pending":                         2, // the old one and the one to retry
		"authd_outbox_abandoned":                       1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if age := got["authd_outbox_oldest_pending_seconds"]; age < 90 || age > 90+60 {
		t.Errorf("authd_outbox_oldest_pending_seconds = %v, want about 90", age)
	}
}

// failingStats is a store that cannot count.
type failingStats struct{ *delivery.MemoryStore }

func (failingStats) Stats(context.Context, time.Time) (delivery.Stats, error) {
	return delivery.Stats{}, errors.New("database down")
}

func TestMetricsStoreErrorReportsNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := delivery.RegisterMetrics(reg, failingStats{delivery.NewMemoryStore()}); err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg)
	for _, name := range []string{"authd_outbox_pending", "authd_outbox_abandoned", "authd_outbox_oldest_pending_seconds"} {
		if v, ok := got[name]; ok {
			t.Errorf("%s = %v reported while the store fails; want it absent", name, v)
		}
	}
	if _, ok := got["authd_outbox_sent_total"]; !ok {
		t.Error("the counters went missing with the store")
	}
	if _, err := delivery.RegisterMetrics(reg, delivery.NewMemoryStore()); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}
