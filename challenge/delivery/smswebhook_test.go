package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
)

var smsTestSecret = []byte("0123456789abcdef0123456789abcdef-test")

func smsEnvelope() delivery.Envelope {
	return delivery.Envelope{
		ID:        "sms-1",
		Channel:   challenge.ChannelSMS,
		To:        "+14155550100",
		Template:  "login_code",
		Text:      "Your sign-in code is 493817.",
		Variables: map[string]string{"otp": "493817", "expiry": "5 minutes"},
	}
}

type smsCall struct {
	header http.Header
	body   []byte
}

func smsServer(t *testing.T, status int) (*httptest.Server, chan smsCall) {
	t.Helper()
	calls := make(chan smsCall, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- smsCall{r.Header.Clone(), b}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func newSMSWebhook(t *testing.T, url string) *delivery.SMSWebhook {
	t.Helper()
	p, err := delivery.NewSMSWebhook(delivery.SMSWebhookConfig{URL: url, Secret: smsTestSecret})
	if err != nil {
		t.Fatalf("NewSMSWebhook: %v", err)
	}
	return p
}

func TestSMSWebhookRequestIsSigned(t *testing.T) {
	srv, calls := smsServer(t, http.StatusOK)
	if err := newSMSWebhook(t, srv.URL+"/sms?tenant=a").Deliver(context.Background(), smsEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	c := <-calls

	var body struct {
		To        string            `json:"to"`
		Body      string            `json:"body"`
		Template  string            `json:"template"`
		Variables map[string]string `json:"variables"`
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %s: %v", c.body, err)
	}
	if body.To != "+14155550100" || body.Body != "Your sign-in code is 493817." || body.Template != "login_code" ||
		body.Variables["otp"] != "493817" || body.Variables["expiry"] != "5 minutes" {
		t.Errorf("body = %s", c.body)
	}
	if ct := c.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	ts, sig := c.header.Get(delivery.SMSTimestampHeader), c.header.Get(delivery.SMSSignatureHeader)
	if !strings.HasPrefix(sig, "v1=") || len(sig) != len("v1=")+64 {
		t.Errorf("signature header = %q, want v1=<64 hex digits>", sig)
	}
	now := time.Now()
	if err := delivery.VerifySMSSignature(smsTestSecret, ts, sig, c.body, now, 5*time.Minute); err != nil {
		t.Fatalf("VerifySMSSignature: %v", err)
	}

	tampered := bytes.Replace(c.body, []byte("+14155550100"), []byte("+14155550199"), 1)
	otherSecret := bytes.ToUpper(smsTestSecret)
	for name, check := range map[string]func() error{
		"tampered body": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, ts, sig, tampered, now, 5*time.Minute)
		},
		"wrong secret": func() error {
			return delivery.VerifySMSSignature(otherSecret, ts, sig, c.body, now, 5*time.Minute)
		},
		"stale": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, ts, sig, c.body, now.Add(6*time.Minute), 5*time.Minute)
		},
		"from the future": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, ts, sig, c.body, now.Add(-6*time.Minute), 5*time.Minute)
		},
		"timestamp changed": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, fmt.Sprint(now.Unix()+1), sig, c.body, now, 5*time.Minute)
		},
		"absurd timestamp": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, "9223372036854775807", sig, c.body, now, 5*time.Minute)
		},
		"malformed timestamp": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, "yesterday", sig, c.body, now, 5*time.Minute)
		},
		"no scheme": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, ts, strings.TrimPrefix(sig, "v1="), c.body, now, 5*time.Minute)
		},
		"not hex": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, ts, "v1=zz", c.body, now, 5*time.Minute)
		},
		"empty": func() error {
			return delivery.VerifySMSSignature(smsTestSecret, "", "", c.body, now, 5*time.Minute)
		},
		"short secret": func() error {
			return delivery.VerifySMSSignature(nil, ts, sig, c.body, now, 5*time.Minute)
		},
	} {
		if err := check(); !errors.Is(err, delivery.ErrSMSSignature) {
			t.Errorf("%s: VerifySMSSignature = %v, want ErrSMSSignature", name, err)
		}
	}
}

func TestSMSWebhookClassification(t *testing.T) {
	for _, tc := range []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
	} {
		srv, _ := smsServer(t, tc.status)
		err := newSMSWebhook(t, srv.URL).Deliver(context.Background(), smsEnvelope())
		if err == nil || delivery.IsPermanent(err) != tc.permanent {
			t.Errorf("HTTP %d: Deliver = %v, want permanent=%v", tc.status, err, tc.permanent)
		}
		if err != nil && strings.Contains(err.Error(), "493817") {
			t.Errorf("HTTP %d: error contains the code: %v", tc.status, err)
		}
	}
}

func TestSMSWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	p, err := delivery.NewSMSWebhook(delivery.SMSWebhookConfig{URL: srv.URL, Secret: smsTestSecret, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Deliver(context.Background(), smsEnvelope())
	if err == nil || delivery.IsPermanent(err) {
		t.Errorf("Deliver = %v, want a transient error", err)
	}
	if d := time.Since(start); d > 1200*time.Millisecond {
		t.Errorf("Deliver took %v with a 200ms timeout", d)
	}
}

func TestSMSWebhookRefusesEmail(t *testing.T) {
	srv, calls := smsServer(t, http.StatusOK)
	e := smsEnvelope()
	e.Channel = challenge.ChannelEmail
	if err := newSMSWebhook(t, srv.URL).Deliver(context.Background(), e); !delivery.IsPermanent(err) {
		t.Errorf("Deliver of an email = %v, want a permanent error", err)
	}
	if len(calls) != 0 {
		t.Error("an email went to the SMS webhook")
	}
}

func TestSMSWebhookConfigChecks(t *testing.T) {
	for name, cfg := range map[string]delivery.SMSWebhookConfig{
		"no URL":       {Secret: smsTestSecret},
		"not http":     {URL: "mailto:sms@example.com", Secret: smsTestSecret},
		"no secret":    {URL: "https://sms.example.com/hook"},
		"short secret": {URL: "https://sms.example.com/hook", Secret: []byte("0123456789abcdef0123456789abcde")},
	} {
		if _, err := delivery.NewSMSWebhook(cfg); err == nil {
			t.Errorf("%s: NewSMSWebhook accepted the configuration", name)
		}
	}
}

func TestSMSAndEmailConfigsLogNoSecrets(t *testing.T) {
	smsCfg := delivery.SMSWebhookConfig{URL: "https://user:pw-in-url@sms.example.com/hook", Secret: smsTestSecret}
	emailCfg := delivery.HTTPEmailConfig{ServiceURL: "http://mail", BearerToken: "bearer-secret", APIKey: "key-secret"}
	smtpCfg := delivery.SMTPConfig{Host: "smtp.example.com", Username: "u", Password: "smtp-secret", From: "a@example.com"}
	sms, err := delivery.NewSMSWebhook(smsCfg)
	if err != nil {
		t.Fatal(err)
	}
	email, err := delivery.NewHTTPEmail(emailCfg)
	if err != nil {
		t.Fatal(err)
	}
	smtp, err := delivery.NewSMTP(smtpCfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("config", "sms", smsCfg, "email", emailCfg, "smtp", smtpCfg,
			"sms_provider", sms, "email_provider", email, "smtp_provider", smtp)
	}
	for _, secret := range []string{string(smsTestSecret), "pw-in-url", "bearer-secret", "key-secret", "smtp-secret"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log line contains %q: %s", secret, buf.String())
		}
	}
}

// A receiver checks every call before it sends anything.
func ExampleVerifySMSSignature() {
	secret := []byte("a shared secret of at least 32 bytes")
	var sent atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		if err := delivery.VerifySMSSignature(secret,
			r.Header.Get(delivery.SMSTimestampHeader), r.Header.Get(delivery.SMSSignatureHeader),
			body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		var msg struct{ To, Body string }
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		sent.Store(true) // hand msg.To and msg.Body to the SMS gateway here
	}))
	defer hook.Close()

	sms, err := delivery.NewSMSWebhook(delivery.SMSWebhookConfig{URL: hook.URL, Secret: secret})
	if err != nil {
		panic(err)
	}
	err = sms.Deliver(context.Background(), delivery.Envelope{
		Channel: challenge.ChannelSMS, To: "+14155550100", Template: "login_code", Text: "Your code is 493817.",
	})
	fmt.Println(err, sent.Load())
	// Output: <nil> true
}
