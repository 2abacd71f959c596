package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/testenv"
)

// TestRedisOutageFailsClosed runs authd on PostgreSQL and a Redis the test
// owns, kills that Redis, and checks that every credential check answers
// 503 (never tokens, never a 500) while it is gone, and that authd recovers
// by itself once Redis is back on the same address.
func TestRedisOutageFailsClosed(t *testing.T) {
	redis := testenv.StartRedis(t)
	s := startServer(t, map[string]string{
		"DATABASE_URL": testenv.PostgresURL(t),
		"REDIS_URL":    redis.URL(),
		"REDIS_PREFIX": testenv.Prefix(t),
	})

	r := s.postForm("/token", adminPassword())
	if r.Status != http.StatusOK {
		t.Fatalf("login with Redis up: %d %s", r.Status, r.Body)
	}
	refresh := str(t, r.JSON(t), "refresh_token")
	r = s.postJSON("/api/v1/auth/login", `{"email":"admin@auth1.dev","password":"admin123"}`, nil)
	if r.Status != http.StatusOK || str(t, r.JSON(t), "tokens.access_token") == "" {
		t.Fatalf("REST login with Redis up: %d %s", r.Status, r.Body)
	}
	// A well-formed mfa_token nobody issued: with Redis up it is simply
	// invalid.
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	unknownMFA := base64.RawURLEncoding.EncodeToString(raw)
	mfaForm := url.Values{"grant_type": {"urn:authd:params:oauth:grant-type:mfa-otp"}, "mfa_token": {unknownMFA}, "otp": {"123456"}}
	r = s.postForm("/token", mfaForm)
	if m := r.JSON(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("unknown mfa_token with Redis up: %d %s", r.Status, r.Body)
	}

	redis.Stop()

	// Every probe runs at once, each with its own deadline, so a hang is
	// reported as such instead of stalling the test.
	type probe struct {
		name, path, contentType, body string
		oauth                         bool // a /token call: RFC 6749 error body
		want                          int
	}
	form := func(v url.Values) string { return v.Encode() }
	wrong := adminPassword()
	wrong.Set("password", "wrong password")
	probes := []probe{
		{"password grant", "/token", outageFormCT, form(adminPassword()), true, http.StatusServiceUnavailable},
		{"password grant, wrong password", "/token", outageFormCT, form(wrong), true, http.StatusServiceUnavailable},
		{"REST login", "/api/v1/auth/login", outageJSONCT, `{"email":"admin@auth1.dev","password":"admin123"}`, false, http.StatusServiceUnavailable},
		{"Connect login", "/authd.v1.TokenService/Login", outageJSONCT, `{"email":"admin@auth1.dev","password":"admin123"}`, false, http.StatusServiceUnavailable},
		{"otp grant", "/token", outageFormCT, form(url.Values{"grant_type": {"urn:authd:params:oauth:grant-type:otp"}, "username": {"admin@auth1.dev"}, "otp": {"123456"}}), true, http.StatusServiceUnavailable},
		{"request-otp", "/api/v1/auth/request-otp", outageJSONCT, `{"email":"admin@auth1.dev"}`, false, http.StatusServiceUnavailable},
		{"mfa-otp grant", "/token", outageFormCT, form(mfaForm), true, http.StatusServiceUnavailable},
		{"REST 2fa/verify", "/api/v1/auth/2fa/verify", outageJSONCT, `{"mfa_token":"` + unknownMFA + `","otp":"123456"}`, false, http.StatusServiceUnavailable},
		// An unknown refresh token is a failure to count; without the
		// limiter it cannot be counted, so it fails closed too.
		{"refresh grant, unknown token", "/token", outageFormCT, form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}}), true, http.StatusServiceUnavailable},
	}
	var wg sync.WaitGroup
	results := make([]probeResult, len(probes))
	for i, p := range probes {
		wg.Go(func() { results[i] = s.postWithin(p.path, p.contentType, p.body, outageBudget) })
	}
	wg.Wait()
	for i, p := range probes {
		r := results[i]
		if r.err != nil {
			t.Errorf("%s during the Redis outage: no answer within %v (%v): credential checks must fail closed promptly with 503, not hang until Redis returns", p.name, outageBudget, r.err)
			continue
		}
		if p.oauth {
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Errorf("%s during the Redis outage: %d, body not JSON: %s", p.name, r.Status, r.Body)
				continue
			}
			if r.Status != p.want || m["error"] != "temporarily_unavailable" || m["reason"] != "UNAVAILABLE" {
				t.Errorf("%s during the Redis outage: %d %s, want 503 temporarily_unavailable UNAVAILABLE", p.name, r.Status, r.Body)
			}
			for _, k := range []string{"access_token", "refresh_token", "id_token", "mfa_token"} {
				if _, ok := m[k]; ok {
					t.Errorf("%s during the Redis outage carries %s: %s", p.name, k, r.Body)
				}
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s during the Redis outage: Cache-Control %q", p.name, r.Header.Get("Cache-Control"))
			}
			continue
		}
		if r.Status != p.want || reasonOf(t, r.Body) != "UNAVAILABLE" {
			t.Errorf("%s during the Redis outage: %d %s, want 503 UNAVAILABLE", p.name, r.Status, r.Body)
		}
	}

	// A valid refresh token needs only PostgreSQL: the refresh success
	// path never waits on Redis.
	if r := s.postWithin("/token", outageFormCT, form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}), outageBudget); r.err != nil || r.Status != http.StatusOK {
		t.Errorf("refresh during the Redis outage: %d %s %v, want 200 (its success path makes no Redis call)", r.Status, r.Body, r.err)
	} else {
		refresh = str(t, r.JSON(t), "refresh_token")
	}
	if r := s.do(http.MethodGet, "/ready", "", nil, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/ready during the Redis outage: %d %s, want 503", r.Status, r.Body)
	}

	redis.Start()

	// The same authd recovers without a restart.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pr := s.postWithin("/token", outageFormCT, adminPassword().Encode(), outageBudget)
		if pr.err == nil && pr.Status == http.StatusOK {
			r = pr.response
			break
		}
		if pr.err == nil && pr.Status != http.StatusServiceUnavailable {
			t.Fatalf("login while Redis comes back: %d %s", pr.Status, pr.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("login still fails 10 s after Redis came back: %d %s %v", pr.Status, pr.Body, pr.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, c := jwtParts(t, str(t, r.JSON(t), "access_token")); c["sub"] == nil {
		t.Fatalf("login after recovery: no sub in %v", c)
	}
	r = s.postJSON("/api/v1/auth/login", `{"email":"admin@auth1.dev","password":"admin123"}`, nil)
	if r.Status != http.StatusOK || str(t, r.JSON(t), "tokens.access_token") == "" {
		t.Fatalf("REST login after recovery: %d %s", r.Status, r.Body)
	}
	// Wrong passwords are counted again, not 503.
	f := adminPassword()
	f.Set("password", "wrong password")
	if r := s.postForm("/token", f); r.JSON(t)["reason"] != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong password after recovery: %d %s", r.Status, r.Body)
	}
	if r := s.do(http.MethodGet, "/ready", "", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("/ready after recovery: %d %s", r.Status, r.Body)
	}
	r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh after recovery: %d %s", r.Status, r.Body)
	}
}

const (
	outageFormCT = "application/x-www-form-urlencoded"
	outageJSONCT = "application/json"
	// outageBudget is how long a request may take while Redis is down:
	// failing closed means answering 503 at once, not waiting for Redis.
	outageBudget = 5 * time.Second
)

type probeResult struct {
	response
	err error
}

// postWithin is do for POST with a deadline of its own; a timeout or
// transport error comes back in err instead of failing the test, so it is
// safe to call from several goroutines.
func (s *server) postWithin(path, contentType, body string, budget time.Duration) probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		return probeResult{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return probeResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return probeResult{err: err}
	}
	return probeResult{response: response{Status: resp.StatusCode, Header: resp.Header, Body: b}}
}
