package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

// server is an authd started by the test through the same serve function
// as `authd serve`, on a loopback port.
type server struct {
	t    *testing.T
	URL  string
	http *http.Client
	// Logs is everything the server logged (at APP_LOG_LEVEL, warn by
	// default).
	Logs *lockedWriter
	// read holds the ids of outbox messages a test has taken.
	read map[string]bool
	stop func()
}

// stopServer shuts s down as SIGTERM would.
func stopServer(t *testing.T, s *server) {
	t.Helper()
	s.stop()
}

// backend is a storage configuration to run end-to-end tests against.
type backend struct {
	name string
	env  func(t *testing.T) map[string]string
}

// backends are the embedded default and, when the test services are up (and
// always under CI=true), PostgreSQL + Redis.
var backends = []backend{
	{"memory", func(*testing.T) map[string]string { return map[string]string{} }},
	{"postgres+redis", func(t *testing.T) map[string]string {
		return map[string]string{
			"DATABASE_URL": testenv.PostgresURL(t),
			"REDIS_URL":    testenv.RedisURL(t),
			"REDIS_PREFIX": testenv.Prefix(t),
		}
	}},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, env map[string]string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.env(t)) })
	}
}

// startServer runs authd with env (on top of an empty environment) until
// the test ends.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	full := map[string]string{"SERVER_PORT": port, "APP_LOG_LEVEL": "warn"}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := loadConfig(nil, func(k string) string { return full[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &lockedWriter{}
	log := newLogger(cfg, logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, ln) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("server did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	s := &server{t: t, URL: "http://" + ln.Addr().String(), http: &http.Client{Timeout: 30 * time.Second}, Logs: logs, read: map[string]bool{}, stop: stop}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			stopOnce.Do(func() {}) // already stopped: nothing to wait for
			t.Fatalf("server exited during start-up: %v\n%s", err, logs.String())
		default:
		}
		resp, err := s.http.Get(s.URL + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedWriter collects log output written from many goroutines.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map, failing the test if it is not
// a JSON object.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response (%d) is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// do sends a request and reads the whole answer.
func (s *server) do(method, path, contentType string, body io.Reader, header map[string]string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// postJSON sends a JSON body (a string, used as is, or a value to encode).
func (s *server) postJSON(path string, body any, header map[string]string) response {
	s.t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		raw = string(b)
	}
	return s.do(http.MethodPost, path, "application/json", strings.NewReader(raw), header)
}

// postForm sends a form-encoded body, as OAuth2 clients do.
func (s *server) postForm(path string, form url.Values) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// outboxMessage is a message the development outbox delivered.
type outboxMessage struct {
	ID        string            `json:"id"`
	To        string            `json:"to"`
	Channel   string            `json:"channel"`
	Template  string            `json:"template"`
	Body      string            `json:"body"`
	Variables map[string]string `json:"variables"`
}

// awaitMessage waits for the newest message to addr, not read before, that
// match accepts, and marks it read: delivery is asynchronous, through the
// outbox queue, so "the newest so far" may still be an older message.
func (s *server) awaitMessage(addr string, match func(outboxMessage) bool) outboxMessage {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.do(http.MethodGet, "/debug/outbox", "", nil, nil)
		if r.Status != http.StatusOK {
			s.t.Fatalf("outbox: %d %s", r.Status, r.Body)
		}
		var msgs []outboxMessage
		if err := json.Unmarshal(r.Body, &msgs); err != nil {
			s.t.Fatalf("outbox is not a JSON array: %v", err)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].To == addr && !s.read[msgs[i].ID] && match(msgs[i]) {
				s.read[msgs[i].ID] = true
				return msgs[i]
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no matching message delivered to %s in 10 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// latestCode waits for the next unread message to addr carrying a code and
// returns the code.
func (s *server) latestCode(addr string) string {
	s.t.Helper()
	m := s.awaitMessage(addr, func(m outboxMessage) bool {
		return m.Variables["otp"] != "" || sixDigits.MatchString(m.Body)
	})
	if c := m.Variables["otp"]; c != "" {
		return c
	}
	return sixDigits.FindStringSubmatch(m.Body)[1]
}

// str reads a string at a dotted path of a decoded JSON object.
func str(t *testing.T, m map[string]any, path string) string {
	t.Helper()
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %v is not an object", path, cur)
		}
		cur = obj[k]
	}
	s, ok := cur.(string)
	if !ok {
		t.Fatalf("%s: %v (%T) is not a string", path, cur, cur)
	}
	return s
}

// reasonOf returns the ErrorInfo reason of a Connect or REST error body.
func reasonOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Details []struct {
			Type   string          `json:"type"`
			Value  string          `json:"value"`
			Debug  json.RawMessage `json:"debug"`
			Reason string          `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, body)
	}
	for _, d := range e.Details {
		if d.Reason != "" {
			return d.Reason
		}
		var dbg struct {
			Reason string `json:"reason"`
		}
		if len(d.Debug) > 0 && json.Unmarshal(d.Debug, &dbg) == nil && dbg.Reason != "" {
			return dbg.Reason
		}
	}
	t.Fatalf("no reason in error %s", body)
	return ""
}
