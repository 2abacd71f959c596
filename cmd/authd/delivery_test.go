package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/challenge/delivery"
	"github.com/authd/authd/internal/testenv"
)

// emailService plays seed 000's HTTP email service. mode decides each
// answer: "up" (202), "down" (503), "reject" (400) or "hang" (until the
// request is cancelled).
type emailService struct {
	mu       sync.Mutex
	mode     string
	calls    atomic.Int64
	received map[string][]string // recipient -> otp of every accepted message
	srv      *httptest.Server
}

func newEmailService(t *testing.T, mode string) *emailService {
	e := &emailService{mode: mode, received: map[string][]string{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		var body struct {
			To        string            `json:"to"`
			Subject   string            `json:"subject"`
			Template  string            `json:"template"`
			Variables map[string]string `json:"variables"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/email/send" || json.NewDecoder(r.Body).Decode(&body) != nil || body.To == "" || body.Template == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		mode := e.mode
		e.mu.Unlock()
		switch mode {
		case "down":
			http.Error(w, "down", http.StatusServiceUnavailable)
		case "reject":
			http.Error(w, "rejected", http.StatusBadRequest)
		case "hang":
			<-r.Context().Done()
		default:
			e.mu.Lock()
			e.received[body.To] = append(e.received[body.To], body.Variables["otp"])
			e.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *emailService) set(mode string) { e.mu.Lock(); e.mode = mode; e.mu.Unlock() }

func (e *emailService) codes(to string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.received[to]...)
}

func (e *emailService) recipients() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.received) }

// awaitEmail waits for the first code delivered to addr.
func (e *emailService) awaitEmail(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c := e.codes(addr); len(c) > 0 {
			return c[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing delivered to %s", addr)
	return ""
}

func deliveryEnv(t *testing.T, e *emailService) map[string]string {
	return behindProxy(map[string]string{
		"DATABASE_URL": testenv.PostgresURL(t), "REDIS_URL": testenv.RedisURL(t), "REDIS_PREFIX": testenv.Prefix(t),
		"EMAIL_PROVIDER": "http", "EMAIL_SERVICE_URL": e.srv.URL, "EMAIL_RETRY_COUNT": "0",
		"DELIVERY_RETRY_BASE": "50ms", "DELIVERY_LEASE": "12s", "EMAIL_TIMEOUT": "500ms",
	})
}

func (s *server) signupFrom(ip, email string) response {
	s.t.Helper()
	return s.do(http.MethodPost, "/api/v1/auth/signup", "application/json",
		strings.NewReader(`{"email":"`+email+`","password":"a fine passphrase"}`), map[string]string{"X-Forwarded-For": ip})
}

// TestDeliveryDurable: the provider is down during 200 signups; when it
// returns every message arrives, each with the code it was queued with.
func TestDeliveryDurable(t *testing.T) {
	e := newEmailService(t, "down")
	env := deliveryEnv(t, e)
	// Enough attempts, a short enough ceiling, for a provider down as long
	// as 200 signups take: the messages must wait, not be abandoned.
	env["DELIVERY_MAX_ATTEMPTS"], env["DELIVERY_RETRY_MAX"] = "100", "1s"
	s := startServer(t, env)
	const n = 200
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if r := s.signupFrom(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), fmt.Sprintf("durable%03d@example.com", i)); r.Status != http.StatusOK {
				t.Errorf("signup %d while the provider is down: %d %s", i, r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	for e.calls.Load() < n { // every message was tried at least once and failed
		time.Sleep(20 * time.Millisecond)
	}
	if e.recipients() != 0 {
		t.Fatal("a message was accepted while the provider was down")
	}
	e.set("up")
	deadline := time.Now().Add(60 * time.Second)
	for e.recipients() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := e.recipients(); got != n {
		t.Fatalf("%d of %d messages arrived", got, n)
	}
	for i := range n {
		addr := fmt.Sprintf("durable%03d@example.com", i)
		codes := e.codes(addr)
		for _, c := range codes[1:] {
			if c != codes[0] {
				t.Fatalf("%s got different codes %v: a retry must carry the queued code", addr, codes)
			}
		}
		if i%20 == 0 {
			if r := s.postJSON("/api/v1/auth/verify-signup", `{"email":"`+addr+`","otp":"`+codes[0]+`"}`, nil); r.Status != http.StatusOK {
				t.Fatalf("verify %s with the delivered code: %d %s", addr, r.Status, r.Body)
			}
		}
	}
}

// TestDeliverySurvivesRestart: authd stops while a message is being sent;
// another instance sends it after the lease, with the same code.
func TestDeliverySurvivesRestart(t *testing.T) {
	hanging := newEmailService(t, "hang")
	env := deliveryEnv(t, hanging)
	first := startServer(t, env)
	if r := first.signupFrom("198.18.9.1", "restart@example.com"); r.Status != http.StatusOK {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	for hanging.calls.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	// The message is in flight at the hanging provider. Replace the server
	// by one whose provider works, on the same database.
	working := newEmailService(t, "up")
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	env2["EMAIL_SERVICE_URL"] = working.srv.URL
	second := startServer(t, env2)
	stopServer(t, first)
	code := working.awaitEmail(t, "restart@example.com")
	if r := second.postJSON("/api/v1/auth/verify-signup", `{"email":"restart@example.com","otp":"`+code+`"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("verify with the code delivered after the restart: %d %s", r.Status, r.Body)
	}
}

// TestSignupDoesNotWaitForProvider: signups answer while the provider
// holds every delivery (no timing: the provider is still blocked when the
// answers arrive).
func TestSignupDoesNotWaitForProvider(t *testing.T) {
	e := newEmailService(t, "hang")
	s := startServer(t, deliveryEnv(t, e))
	for i := range 5 {
		if r := s.signupFrom(fmt.Sprintf("198.18.8.%d", i+1), fmt.Sprintf("fast%d@example.com", i)); r.Status != http.StatusOK {
			t.Fatalf("signup %d: %d %s", i, r.Status, r.Body)
		}
	}
	if e.recipients() != 0 {
		t.Fatal("the hanging provider accepted something")
	}
}

// TestRejectedMessageIsAbandoned: a 400 from the email service abandons the
// message at once (no retry storm); `authd outbox retry` sends it once the
// service is fixed.
func TestRejectedMessageIsAbandoned(t *testing.T) {
	e := newEmailService(t, "reject")
	env := deliveryEnv(t, e)
	s := startServer(t, env)
	if r := s.signupFrom("198.18.7.1", "rejected@example.com"); r.Status != http.StatusOK {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var out bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "abandoned") {
		if time.Now().After(deadline) {
			t.Fatalf("message not abandoned: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
		out.Reset()
		if err := run(context.Background(), []string{"outbox", "list", "abandoned"}, &out, envOf(env)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // a retry storm would show up as more calls
	if c := e.calls.Load(); c != 1 {
		t.Fatalf("%d calls for a message the service rejected, want exactly 1", c)
	}
	if m := s.do(http.MethodGet, "/metrics", "", nil, nil); !strings.Contains(string(m.Body), "authd_outbox_abandoned 1") {
		t.Errorf("metrics do not show the abandoned message")
	}
	e.set("up")
	out.Reset()
	if err := run(context.Background(), []string{"outbox", "retry"}, &out, envOf(env)); err != nil || !strings.Contains(out.String(), "1 messages") {
		t.Fatalf("outbox retry: %v %s", err, out.String())
	}
	e.awaitEmail(t, "rejected@example.com")
}

// TestSMSWebhook: a phone signup reaches the SMS webhook signed, and its
// code verifies the number.
func TestSMSWebhook(t *testing.T) {
	secret := "sms-webhook-secret-0123456789abcdef"
	got := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := delivery.VerifySMSSignature([]byte(secret), r.Header.Get("X-Authd-Timestamp"), r.Header.Get("X-Authd-Signature"), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		got <- m
	}))
	defer hook.Close()
	s := startServer(t, map[string]string{"SMS_PROVIDER": "webhook", "SMS_WEBHOOK_URL": hook.URL, "SMS_WEBHOOK_SECRET": secret})
	if r := s.postJSON("/api/v1/auth/signup", `{"phone":"+14155550199","password":"a fine passphrase"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var m map[string]any
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no signed webhook call")
	}
	vars, _ := m["variables"].(map[string]any)
	code, _ := vars["otp"].(string)
	if m["to"] != "+14155550199" || code == "" || !strings.Contains(m["body"].(string), code) {
		t.Fatalf("webhook body %v", m)
	}
	if r := s.postJSON("/api/v1/auth/verify-signup", `{"phone":"+14155550199","otp":"`+code+`"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
}

// TestSMTPDelivery: a signup's code goes out through a real SMTP server
// (Mailpit), is read back through its API, and completes the signup.
func TestSMTPDelivery(t *testing.T) {
	smtpAddr, api := testenv.Mailpit(t)
	host, port, _ := strings.Cut(smtpAddr, ":")
	s := startServer(t, map[string]string{
		"EMAIL_PROVIDER": "smtp", "EMAIL_SMTP_HOST": host, "EMAIL_SMTP_PORT": port, "EMAIL_SMTP_TLS": "none",
		"EMAIL_SMTP_FROM": "authd <no-reply@authd.test>",
	})
	if r := s.postJSON("/api/v1/auth/signup", `{"email":"smtp@example.com","password":"a fine passphrase"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var msg struct {
		Subject string
		Text    string
		HTML    string
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct{ Messages []struct{ ID string } }
		getJSON(t, api+"/api/v1/messages", &list)
		if len(list.Messages) > 0 {
			getJSON(t, api+"/api/v1/message/"+list.Messages[0].ID, &msg)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no mail reached Mailpit")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := sixDigits.FindString(msg.Text)
	if code == "" || !strings.Contains(msg.HTML, code) || !strings.Contains(msg.Text, "/api/v1/auth/verify-email?token=") {
		t.Fatalf("mail lacks the code or link: %+v", msg)
	}
	if r := s.postJSON("/api/v1/auth/verify-signup", `{"email":"smtp@example.com","otp":"`+code+`"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("verify with the mailed code: %d %s", r.Status, r.Body)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// TestNewSigninNotice: with app.notify_new_signin, every completed sign-in
// sends the user a notice naming the client's IP and user agent.
func TestNewSigninNotice(t *testing.T) {
	s := startServer(t, map[string]string{"APP_NOTIFY_NEW_SIGNIN": "true"})
	if r := s.do(http.MethodPost, "/token", "application/x-www-form-urlencoded", strings.NewReader(adminPassword().Encode()),
		map[string]string{"User-Agent": "notice-test/1.0"}); r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	m := s.awaitMessage("admin@auth1.dev", func(m outboxMessage) bool { return m.Template == "new_signin" })
	if m.Variables["ip"] != "127.0.0.1" || !strings.Contains(m.Body, "notice-test/1.0") {
		t.Fatalf("notice %+v", m)
	}
}
