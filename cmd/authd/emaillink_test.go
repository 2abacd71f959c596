package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// latestLink waits for the next unread message to addr carrying a
// verification link and returns the link.
func (s *server) latestLink(addr string) *url.URL {
	s.t.Helper()
	m := s.awaitMessage(addr, func(m outboxMessage) bool { return m.Variables["link"] != "" })
	u, err := url.Parse(m.Variables["link"])
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// TestEmailLink: the signup email carries a link; GET only shows a confirm
// page (a mail scanner's prefetch must not use it up), the page's POST
// verifies, and a used link answers 400.
func TestEmailLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		s.postJSON("/api/v1/auth/signup", `{"email": "link@example.com", "password": "link passphrase"}`, nil)
		link := s.latestLink("link@example.com")
		if link.Path != "/api/v1/auth/verify-email" || len(link.Query().Get("token")) < 22 {
			t.Fatalf("link %s", link)
		}
		path := link.RequestURI()

		for range 3 { // scanners may fetch more than once
			r := s.do(http.MethodGet, path, "", nil, map[string]string{"Accept": "text/html"})
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `method="post"`) {
				t.Fatalf("GET link: %d %s", r.Status, r.Body)
			}
		}
		login := `{"email": "link@example.com", "password": "link passphrase"}`
		if r := s.postJSON("/api/v1/auth/login", login, nil); r.Status != http.StatusForbidden {
			t.Fatalf("GET verified the address: login %d %s", r.Status, r.Body)
		}
		// The page's form post.
		form := url.Values{"token": {link.Query().Get("token")}}
		r := s.do(http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), map[string]string{"Accept": "text/html"})
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "verified") {
			t.Fatalf("POST link: %d %s", r.Status, r.Body)
		}
		if r := s.postJSON("/api/v1/auth/login", login, nil); r.Status != http.StatusOK {
			t.Fatalf("login after link: %d %s", r.Status, r.Body)
		}
		// Used: 400, for GET and POST alike.
		if r := s.do(http.MethodGet, path, "", nil, nil); r.Status != http.StatusBadRequest {
			t.Fatalf("GET used link: %d %s", r.Status, r.Body)
		}
		if r := s.postJSON("/api/v1/auth/verify-email", map[string]string{"token": link.Query().Get("token")}, nil); r.Status != http.StatusBadRequest || reasonOf(t, r.Body) != "INVALID_LINK" {
			t.Fatalf("JSON POST used link: %d %s", r.Status, r.Body)
		}
		if r := s.do(http.MethodGet, "/api/v1/auth/verify-email?token=bogus", "", nil, nil); r.Status != http.StatusBadRequest {
			t.Fatalf("bogus token: %d %s", r.Status, r.Body)
		}
	})
}

// TestEmailLinkGetVerifies: the seed-002 behaviour, on request.
func TestEmailLinkGetVerifies(t *testing.T) {
	s := startServer(t, map[string]string{"APP_EMAIL_LINK_GET_VERIFIES": "true"})
	s.postJSON("/api/v1/auth/signup", `{"email": "get@example.com", "password": "link passphrase"}`, nil)
	path := s.latestLink("get@example.com").RequestURI()
	if r := s.do(http.MethodGet, path, "", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	if r := s.do(http.MethodGet, path, "", nil, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("second GET: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON("/api/v1/auth/login", `{"email": "get@example.com", "password": "link passphrase"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
}

// TestEmailLinkByRPC: Connect JSON VerifyEmail consumes the token.
func TestEmailLinkByRPC(t *testing.T) {
	s := startServer(t, nil)
	s.postJSON("/api/v1/auth/signup", `{"email": "rpc@example.com", "password": "link passphrase"}`, nil)
	tok := s.latestLink("rpc@example.com").Query().Get("token")
	if r := s.postJSON("/authd.v1.AccountService/VerifyEmail", map[string]string{"token": tok}, nil); r.Status != http.StatusOK {
		t.Fatalf("VerifyEmail: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON("/authd.v1.AccountService/VerifyEmail", map[string]string{"token": tok}, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("VerifyEmail again: %d %s", r.Status, r.Body)
	}
}
