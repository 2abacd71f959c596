package challenge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
)

func codeMessage(t *testing.T, to, otp string) challenge.Message {
	t.Helper()
	vars := map[string]string{"otp": otp, "expiry": "5 minutes"}
	return challenge.Message{
		Channel: challenge.ChannelEmail, To: to, Template: challenge.TemplateSignupCode,
		Subject: "Your verification code", Body: "Your verification code is " + otp + ".", Variables: vars,
	}
}

func TestOutboxLogRedaction(t *testing.T) {
	for _, tt := range []struct {
		name       string
		opts       []challenge.OutboxOption
		showsCode  bool
		redactions int // otp and body
	}{
		{"default", nil, false, 2},
		{"LogSecrets(false)", []challenge.OutboxOption{challenge.LogSecrets(false)}, false, 2},
		{"LogSecrets(true)", []challenge.OutboxOption{challenge.LogSecrets(true)}, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := challenge.NewOutbox(slog.New(slog.NewTextHandler(&buf, nil)), tt.opts...)
			if err := o.Send(context.Background(), codeMessage(t, "alice@example.com", "042917")); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if got := strings.Contains(out, "042917"); got != tt.showsCode {
				t.Errorf("code in log = %v, want %v; log: %s", got, tt.showsCode, out)
			}
			if got := strings.Count(out, "[redacted]"); got != tt.redactions {
				t.Errorf("%d [redacted] in log, want %d; log: %s", got, tt.redactions, out)
			}
			for _, want := range []string{"level=INFO", "channel=email", "to=alice@example.com", "template=signup_code", `subject="Your verification code"`, `variables.expiry="5 minutes"`} {
				if !strings.Contains(out, want) {
					t.Errorf("log does not contain %q; log: %s", want, out)
				}
			}
			// The outbox itself always keeps the code: reading it is its job.
			if m := o.Messages(); len(m) != 1 || m[0].Variables["otp"] != "042917" {
				t.Errorf("Messages() = %+v, want the message with its code", m)
			}
		})
	}
}

func TestOutboxServeHTTP(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	o := challenge.NewOutbox(slog.New(slog.DiscardHandler), challenge.OutboxClock(func() time.Time { return at }))

	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/outbox", nil))
		return rec
	}
	if body := strings.TrimSpace(get().Body.String()); body != "[]" {
		t.Fatalf("empty outbox body = %s, want []", body)
	}

	ctx := context.Background()
	if err := o.Send(ctx, codeMessage(t, "alice@example.com", "042917")); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(ctx, challenge.Message{Channel: challenge.ChannelSMS, To: "+15550100", Template: "signup_notice", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	rec := get()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET = %d %v", rec.Code, rec.Header())
	}
	var got []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	wantKeys := []string{"body", "channel", "created_at", "id", "subject", "template", "to", "variables"}
	for i, m := range got {
		if len(m) != len(wantKeys) {
			t.Errorf("message %d has fields %v, want exactly %v", i, m, wantKeys)
		}
		for _, k := range wantKeys {
			if _, ok := m[k]; !ok {
				t.Errorf("message %d lacks %q: %v", i, k, m)
			}
		}
		if id, _ := m["id"].(string); len(id) != 36 {
			t.Errorf("message %d id = %v, want a UUID", i, m["id"])
		}
		if m["created_at"] != "2025-01-02T03:04:05Z" {
			t.Errorf("message %d created_at = %v", i, m["created_at"])
		}
	}
	if got[0]["to"] != "alice@example.com" || got[1]["to"] != "+15550100" {
		t.Errorf("order: %v then %v, want newest last", got[0]["to"], got[1]["to"])
	}
	if vars, _ := got[0]["variables"].(map[string]any); vars["otp"] != "042917" || got[0]["channel"] != "email" {
		t.Errorf("first message = %v", got[0])
	}
	if vars, ok := got[1]["variables"].(map[string]any); !ok || len(vars) != 0 {
		t.Errorf("message without variables encodes them as %v, want {}", got[1]["variables"])
	}

	for _, method := range []string{http.MethodPost, http.MethodDelete, http.MethodPut} {
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, httptest.NewRequest(method, "/debug/outbox", nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
			t.Errorf("%s = %d (Allow %q), want 405 with Allow", method, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestOutboxKeepsLast200(t *testing.T) {
	o := challenge.NewOutbox(slog.New(slog.DiscardHandler))
	for i := range 450 {
		m := challenge.Message{Channel: challenge.ChannelEmail, To: fmt.Sprintf("user%d@example.com", i)}
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if n, want := len(o.Messages()), min(i+1, 200); n != want {
			t.Fatalf("after %d sends: %d messages, want %d", i+1, n, want)
		}
	}
	msgs := o.Messages()
	for i, m := range msgs {
		if want := fmt.Sprintf("user%d@example.com", 250+i); m.To != want {
			t.Fatalf("message %d to %s, want %s (oldest dropped, newest last)", i, m.To, want)
		}
	}
}

func TestOutboxIsolation(t *testing.T) {
	o := challenge.NewOutbox(slog.New(slog.DiscardHandler))
	vars := map[string]string{"otp": "111111"}
	if err := o.Send(context.Background(), challenge.Message{Channel: challenge.ChannelEmail, To: "a@example.com", Variables: vars}); err != nil {
		t.Fatal(err)
	}
	vars["otp"] = "changed by sender"
	o.Messages()[0].Variables["otp"] = "changed by reader"
	if got := o.Messages()[0].Variables["otp"]; got != "111111" {
		t.Fatalf("stored otp = %q, want 111111: the outbox must keep its own copy", got)
	}
}

func TestOutboxRejects(t *testing.T) {
	o := challenge.NewOutbox(nil)
	for _, m := range []challenge.Message{
		{Channel: "pigeon", To: "a@example.com"},
		{Channel: challenge.ChannelEmail},
	} {
		if err := o.Send(context.Background(), m); err == nil {
			t.Errorf("Send(%+v): no error", m)
		}
	}
	if n := len(o.Messages()); n != 0 {
		t.Fatalf("%d messages kept after rejected sends", n)
	}
}
