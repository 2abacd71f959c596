package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/challenge/delivery"
)

const httpEmailTestCode = "493817"

func httpEmailEnvelope() delivery.Envelope {
	return delivery.Envelope{
		ID:        "0b7e4f9c-3c1e-4a51-9d7e-5f3c2a1b0c9d",
		Channel:   challenge.ChannelEmail,
		To:        "user@example.com",
		Template:  "otp_email",
		Subject:   "Your OTP Code",
		Text:      "Your code is " + httpEmailTestCode,
		HTML:      "<p>Your code is " + httpEmailTestCode + "</p>",
		Variables: map[string]string{"otp": httpEmailTestCode, "expiry": "5 minutes"},
	}
}

// httpEmailServer answers each request with the status that status returns
// for the request's 1-based number, and counts the requests.
func httpEmailServer(t *testing.T, status func(n int64) int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status(n))
		// A service may echo what it was sent; errors must not repeat it.
		_, _ = io.WriteString(w, `{"error":"bad variables: otp=`+httpEmailTestCode+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newHTTPEmail(t *testing.T, cfg delivery.HTTPEmailConfig) *delivery.HTTPEmail {
	t.Helper()
	p, err := delivery.NewHTTPEmail(cfg)
	if err != nil {
		t.Fatalf("NewHTTPEmail: %v", err)
	}
	return p
}

func TestHTTPEmailRequestShape(t *testing.T) {
	type seen struct {
		method, path string
		header       http.Header
		body         []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Clone(), b}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	p := newHTTPEmail(t, delivery.HTTPEmailConfig{
		ServiceURL:  srv.URL + "/mail/",
		BearerToken: "service-token",
		APIKey:      "service-key",
	})
	if err := p.Deliver(context.Background(), httpEmailEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	r := <-got
	if r.method != http.MethodPost || r.path != "/mail/email/send" {
		t.Errorf("request = %s %s, want POST /mail/email/send", r.method, r.path)
	}
	for k, want := range map[string]string{
		"Content-Type":    "application/json",
		"Authorization":   "Bearer service-token",
		"X-Api-Key":       "service-key",
		"Idempotency-Key": "0b7e4f9c-3c1e-4a51-9d7e-5f3c2a1b0c9d",
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	// Exactly the seed's fields, variables as strings.
	var body struct {
		To        string            `json:"to"`
		Subject   string            `json:"subject"`
		Template  string            `json:"template"`
		Variables map[string]string `json:"variables"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if body.To != "user@example.com" || body.Subject != "Your OTP Code" || body.Template != "otp_email" ||
		len(body.Variables) != 2 || body.Variables["otp"] != httpEmailTestCode || body.Variables["expiry"] != "5 minutes" {
		t.Errorf("body = %s", r.body)
	}
}

func TestHTTPEmailNoVariablesIsObject(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer srv.Close()
	e := httpEmailEnvelope()
	e.Variables = nil
	if err := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL}).Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if !bytes.Contains(b, []byte(`"variables":{}`)) {
		t.Errorf("body = %s, want variables {}", b)
	}
}

func TestHTTPEmailRetriesTransientFailures(t *testing.T) {
	const failures = 3
	status := func(n int64) int {
		if n <= failures {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}

	t.Run("enough retries", func(t *testing.T) {
		srv, calls := httpEmailServer(t, status)
		p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, RetryCount: failures})
		if err := p.Deliver(context.Background(), httpEmailEnvelope()); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		if n := calls.Load(); n != failures+1 {
			t.Errorf("%d requests, want %d", n, failures+1)
		}
	})

	t.Run("too few retries", func(t *testing.T) {
		srv, calls := httpEmailServer(t, status)
		p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, RetryCount: failures - 1})
		err := p.Deliver(context.Background(), httpEmailEnvelope())
		if err == nil || delivery.IsPermanent(err) {
			t.Fatalf("Deliver = %v, want a transient error", err)
		}
		if n := calls.Load(); n != failures {
			t.Errorf("%d requests, want %d", n, failures)
		}
		checkNoSecret(t, err)
		if !strings.Contains(err.Error(), "503") {
			t.Errorf("error %q does not name the status", err)
		}
	})
}

func TestHTTPEmailClientErrorsArePermanent(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity} {
		srv, calls := httpEmailServer(t, func(int64) int { return status })
		p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, RetryCount: 3})
		err := p.Deliver(context.Background(), httpEmailEnvelope())
		if !delivery.IsPermanent(err) {
			t.Errorf("HTTP %d: Deliver = %v, want a permanent error", status, err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("HTTP %d: %d requests, want exactly 1", status, n)
		}
		checkNoSecret(t, err)
	}
}

func TestHTTPEmailTooManyRequestsIsTransientWithoutImmediateRetry(t *testing.T) {
	srv, calls := httpEmailServer(t, func(int64) int { return http.StatusTooManyRequests })
	p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, RetryCount: 3})
	err := p.Deliver(context.Background(), httpEmailEnvelope())
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want a transient error", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests, want 1: a rate-limited service is left to the outbox's backoff", n)
	}
}

func TestHTTPEmailRequestTimeoutIsRetried(t *testing.T) {
	srv, calls := httpEmailServer(t, func(n int64) int {
		if n == 1 {
			return http.StatusRequestTimeout
		}
		return http.StatusNoContent
	})
	p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, RetryCount: 1})
	if err := p.Deliver(context.Background(), httpEmailEnvelope()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestHTTPEmailHangingServiceTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	const timeout = 300 * time.Millisecond
	p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, Timeout: timeout, RetryCount: 3})
	start := time.Now()
	err := p.Deliver(context.Background(), httpEmailEnvelope())
	elapsed := time.Since(start)
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want a transient error", err)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("Deliver took %v with a %v timeout", elapsed, timeout)
	}
}

func TestHTTPEmailUnreachableIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: url, RetryCount: 1})
	err := p.Deliver(context.Background(), httpEmailEnvelope())
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want a transient error", err)
	}
}

func TestHTTPEmailDoesNotFollowRedirects(t *testing.T) {
	var leaked atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { leaked.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/email/send", http.StatusTemporaryRedirect))
	defer srv.Close()

	p := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL, APIKey: "service-key"})
	if err := p.Deliver(context.Background(), httpEmailEnvelope()); err == nil || delivery.IsPermanent(err) {
		t.Errorf("Deliver = %v, want a transient error", err)
	}
	if leaked.Load() != 0 {
		t.Error("the redirect was followed: the API key and the code went to another host")
	}
}

func TestHTTPEmailRefusesOtherChannels(t *testing.T) {
	srv, calls := httpEmailServer(t, func(int64) int { return http.StatusOK })
	e := httpEmailEnvelope()
	e.Channel = challenge.ChannelSMS
	if err := newHTTPEmail(t, delivery.HTTPEmailConfig{ServiceURL: srv.URL}).Deliver(context.Background(), e); !delivery.IsPermanent(err) {
		t.Errorf("Deliver of an SMS = %v, want a permanent error", err)
	}
	if calls.Load() != 0 {
		t.Error("an SMS went to the email service")
	}
}

func TestHTTPEmailConfigChecks(t *testing.T) {
	for name, cfg := range map[string]delivery.HTTPEmailConfig{
		"no URL":           {},
		"relative URL":     {ServiceURL: "/email"},
		"not http":         {ServiceURL: "ftp://mail.example.com"},
		"negative retries": {ServiceURL: "http://mail.example.com", RetryCount: -1},
		"retry storm":      {ServiceURL: "http://mail.example.com", RetryCount: 1000},
		"negative timeout": {ServiceURL: "http://mail.example.com", Timeout: -time.Second},
	} {
		if _, err := delivery.NewHTTPEmail(cfg); err == nil {
			t.Errorf("%s: NewHTTPEmail accepted %+v", name, cfg)
		}
	}
}

// checkNoSecret fails when err repeats the one-time code of the test
// envelopes: errors are logged, codes must never be.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), httpEmailTestCode) {
		t.Errorf("error contains the code: %v", err)
	}
}
