package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func adminPassword() url.Values {
	return url.Values{"grant_type": {"password"}, "username": {"admin@auth1.dev"}, "password": {"admin123"}}
}

// jwtParts decodes a compact JWT's header and claims without verifying.
func jwtParts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", tok)
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("decode JWT part: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("JWT part is not JSON: %v", err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

func TestTokenEndpointPasswordAndRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)

		form := adminPassword()
		form.Set("scope", "openid email profile")
		r := s.postForm("/token", form)
		if r.Status != http.StatusOK {
			t.Fatalf("password grant: %d %s", r.Status, r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		m := r.JSON(t)
		if m["token_type"] != "Bearer" || m["expires_in"] != float64(900) || m["scope"] != "openid email profile" {
			t.Fatalf("token response: %s", r.Body)
		}
		refresh := str(t, m, "refresh_token")
		if len(refresh) < 43 {
			t.Fatalf("refresh token %d chars, want >= 43 (256 bits)", len(refresh))
		}

		h, c := jwtParts(t, str(t, m, "access_token"))
		if h["alg"] != "RS256" || h["typ"] != "at+jwt" || h["kid"] == "" {
			t.Fatalf("access token header %v", h)
		}
		for _, claim := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "sid", "amr", "auth_time"} {
			if _, ok := c[claim]; !ok {
				t.Errorf("access token lacks %q: %v", claim, c)
			}
		}
		if c["iss"] != s.URL && !strings.HasPrefix(c["iss"].(string), "http://localhost:") {
			t.Errorf("iss %v", c["iss"])
		}
		if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
			t.Errorf("amr %v, want [pwd]", c["amr"])
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 900 {
			t.Errorf("lifetime %v s, want 900", exp-iat)
		}

		ih, ic := jwtParts(t, str(t, m, "id_token"))
		if ih["alg"] != "RS256" || ic["email"] != "admin@auth1.dev" || ic["email_verified"] != true || ic["sub"] != c["sub"] {
			t.Fatalf("id token %v %v", ih, ic)
		}

		// JSON bodies are accepted too.
		r = s.postJSON("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh grant: %d %s", r.Status, r.Body)
		}
		m2 := r.JSON(t)
		if str(t, m2, "refresh_token") == refresh {
			t.Fatal("refresh token not rotated")
		}
		if _, ok := m2["id_token"]; ok {
			t.Error("refresh without openid in the request minted an ID token")
		}
		_, c2 := jwtParts(t, str(t, m2, "access_token"))
		if c2["sid"] != c["sid"] || c2["auth_time"] != c["auth_time"] {
			t.Errorf("refresh changed the session: %v vs %v", c2, c)
		}
		// Narrowing is allowed, widening is not.
		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(t, m2, "refresh_token")}, "scope": {"phone"}})
		if m := r.JSON(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_scope" {
			t.Fatalf("widening scope: %d %s", r.Status, r.Body)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		status      int
		oauthError  string
	}{
		{"no grant_type", "application/x-www-form-urlencoded", "username=a", 400, "invalid_request"},
		{"unknown grant", "application/x-www-form-urlencoded", "grant_type=client_credentials", 400, "unsupported_grant_type"},
		{"authorization_code", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x", 400, "unsupported_grant_type"},
		{"wrong password", "application/x-www-form-urlencoded", "grant_type=password&username=admin%40auth1.dev&password=nope", 400, "invalid_grant"},
		{"unknown user", "application/x-www-form-urlencoded", "grant_type=password&username=ghost%40example.com&password=whatever1", 400, "invalid_grant"},
		{"missing password", "application/x-www-form-urlencoded", "grant_type=password&username=admin%40auth1.dev", 400, "invalid_request"},
		{"bad refresh token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=nope", 400, "invalid_grant"},
		{"repeated parameter", "application/x-www-form-urlencoded", "grant_type=password&grant_type=password", 400, "invalid_request"},
		{"unknown scope", "application/x-www-form-urlencoded", "grant_type=password&username=admin%40auth1.dev&password=admin123&scope=admin", 400, "invalid_scope"},
		{"unknown client", "application/x-www-form-urlencoded", "grant_type=password&client_id=evil&username=a&password=b", 401, "invalid_client"},
		{"text/plain", "text/plain", "grant_type=password", 400, "invalid_request"},
		{"no content type", "", "grant_type=password", 400, "invalid_request"},
		{"malformed JSON", "application/json", `{"grant_type":`, 400, "invalid_request"},
		{"JSON non-string", "application/json", `{"grant_type":"password","username":1}`, 400, "invalid_request"},
		{"JSON array", "application/json", `["grant_type"]`, 400, "invalid_request"},
		{"NUL byte", "application/x-www-form-urlencoded", "grant_type=password&username=a%00b&password=x", 400, "invalid_request"},
		{"invalid UTF-8", "application/x-www-form-urlencoded", "grant_type=password&username=%ff&password=x", 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(http.MethodPost, "/token", tc.contentType, strings.NewReader(tc.body), nil)
			m := r.JSON(t)
			if r.Status != tc.status || m["error"] != tc.oauthError {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.oauthError)
			}
			if _, ok := m["access_token"]; ok {
				t.Fatal("error response carries a token")
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Error("error without Cache-Control: no-store")
			}
		})
	}
	r := s.do(http.MethodGet, "/token", "", nil, nil)
	if r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /token: %d", r.Status)
	}
}

// TestConcurrentRefresh: 50 clients refresh the same token at once. None
// may get a 5xx, and the family must never hold two live tokens.
func TestConcurrentRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		r := s.postForm("/token", adminPassword())
		if r.Status != http.StatusOK {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		refresh := str(t, r.JSON(t), "refresh_token")

		const n = 50
		var wg sync.WaitGroup
		results := make([]response, n)
		for i := range n {
			wg.Go(func() {
				results[i] = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
			})
		}
		wg.Wait()
		issued := map[string]bool{}
		for _, r := range results {
			if r.Status >= 500 {
				t.Fatalf("5xx under concurrency: %d %s", r.Status, r.Body)
			}
			if r.Status == http.StatusOK {
				issued[str(t, r.JSON(t), "refresh_token")] = true
			}
		}
		if len(issued) != 1 {
			t.Fatalf("%d distinct successor tokens issued, want exactly 1", len(issued))
		}
		var next string
		for tok := range issued {
			next = tok
		}
		// The one successor is live and rotates normally.
		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}})
		if r.Status != http.StatusOK {
			t.Fatalf("successor refresh: %d %s", r.Status, r.Body)
		}
	})
}

// TestRefreshReuseRevokesFamily: with no grace window, presenting a rotated
// token revokes the whole session, including its live token.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		env["JWT_REFRESH_TOKEN_REUSE_INTERVAL"] = "0"
		s := startServer(t, env)
		r := s.postForm("/token", adminPassword())
		t1 := str(t, r.JSON(t), "refresh_token")
		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t1}})
		if r.Status != http.StatusOK {
			t.Fatalf("first refresh: %d %s", r.Status, r.Body)
		}
		t2 := str(t, r.JSON(t), "refresh_token")

		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t1}})
		if m := r.JSON(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %s", r.Status, r.Body)
		}
		r = s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t2}})
		if m := r.JSON(t); r.Status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("live token after reuse: %d %s (the family should be revoked)", r.Status, r.Body)
		}
	})
}
