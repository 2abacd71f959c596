package main

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSeedWalkthrough runs the seed README's curl examples as written:
// signup → verify-signup → login → me → refresh → logout.
func TestSeedWalkthrough(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)

		r := s.postJSON("/api/v1/auth/signup", `{
			"email": "user@example.com",
			"name": "John Doe",
			"password": "password123"
		}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("signup: %d %s", r.Status, r.Body)
		}
		code := s.latestCode("user@example.com")

		// Login before verification is refused, with a reason.
		r = s.postJSON("/api/v1/auth/login", `{"email": "user@example.com", "password": "password123"}`, nil)
		if r.Status != http.StatusForbidden || reasonOf(t, r.Body) != "EMAIL_NOT_VERIFIED" {
			t.Fatalf("login before verification: %d %s", r.Status, r.Body)
		}

		r = s.postJSON("/api/v1/auth/verify-signup", `{"email": "user@example.com", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("verify-signup: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		if str(t, m, "tokens.access_token") == "" || str(t, m, "user.email") != "user@example.com" {
			t.Fatalf("verify-signup answer: %s", r.Body)
		}
		if v, _ := m["user"].(map[string]any)["email_verified"].(bool); !v {
			t.Fatalf("verify-signup: email not verified: %s", r.Body)
		}

		// The code was single-use.
		r = s.postJSON("/api/v1/auth/verify-signup", `{"email": "user@example.com", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusBadRequest || reasonOf(t, r.Body) != "INVALID_CODE" {
			t.Fatalf("verify-signup replay: %d %s", r.Status, r.Body)
		}

		r = s.postJSON("/api/v1/auth/login", `{
			"email": "user@example.com",
			"password": "password123"
		}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		m = r.JSON(t)
		access, refresh := str(t, m, "tokens.access_token"), str(t, m, "tokens.refresh_token")
		if tt := str(t, m, "tokens.token_type"); tt != "Bearer" {
			t.Fatalf("token_type %q", tt)
		}

		r = s.do(http.MethodGet, "/api/v1/auth/me", "", nil, bearer(access))
		if r.Status != http.StatusOK || str(t, r.JSON(t), "user.name") != "John Doe" {
			t.Fatalf("me: %d %s", r.Status, r.Body)
		}

		r = s.postJSON("/api/v1/auth/refresh", map[string]string{"refresh_token": refresh}, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		refresh2 := str(t, r.JSON(t), "tokens.refresh_token")
		if refresh2 == refresh {
			t.Fatal("refresh token was not rotated")
		}

		r = s.postJSON("/api/v1/auth/logout", map[string]string{"refresh_token": refresh2}, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		// Idempotent.
		r = s.postJSON("/api/v1/auth/logout", map[string]string{"refresh_token": refresh2}, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("second logout: %d %s", r.Status, r.Body)
		}
		r = s.postJSON("/api/v1/auth/refresh", map[string]string{"refresh_token": refresh2}, nil)
		if r.Status != http.StatusUnauthorized || reasonOf(t, r.Body) != "INVALID_REFRESH_TOKEN" {
			t.Fatalf("refresh after logout: %d %s", r.Status, r.Body)
		}

		// The seed's development admin.
		r = s.postJSON("/api/v1/auth/login", `{"email": "admin@auth1.dev", "password": "admin123"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("admin login: %d %s", r.Status, r.Body)
		}
	})
}

// TestSignupAnswersAlike checks that signup does not reveal whether an
// address is registered.
func TestSignupAnswersAlike(t *testing.T) {
	s := startServer(t, nil)
	fresh := s.postJSON("/api/v1/auth/signup", `{"email":"new@example.com","password":"a long passphrase"}`, nil)
	known := s.postJSON("/api/v1/auth/signup", `{"email":"admin@auth1.dev","password":"a long passphrase"}`, nil)
	if fresh.Status != http.StatusOK || known.Status != fresh.Status || string(known.Body) != string(fresh.Body) {
		t.Fatalf("signup answers differ:\nnew:   %d %s\nknown: %d %s", fresh.Status, fresh.Body, known.Status, known.Body)
	}
	// The owner of the known address was told instead.
	s.awaitMessage("admin@auth1.dev", func(m outboxMessage) bool { return m.Template == "signup_notice" })
	// The known account's password did not change.
	if r := s.postJSON("/api/v1/auth/login", `{"email":"admin@auth1.dev","password":"admin123"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("admin login after duplicate signup: %d %s", r.Status, r.Body)
	}
}

// TestSignupRefusals checks bad signups get 400 with a reason.
func TestSignupRefusals(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"short password", `{"email":"a@example.com","password":"short"}`, "PASSWORD_TOO_SHORT"},
		{"bad email", `{"email":"not-an-email","password":"long enough pass"}`, "INVALID_EMAIL"},
		{"no address", `{"password":"long enough pass"}`, "ADDRESS_REQUIRED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.postJSON("/api/v1/auth/signup", tc.body, nil)
			if r.Status != http.StatusBadRequest || reasonOf(t, r.Body) != tc.reason {
				t.Fatalf("got %d %s, want 400 %s", r.Status, r.Body, tc.reason)
			}
		})
	}
}

// TestUnverifiedAtTokenEndpoint checks /token answers an OAuth2 error, not
// tokens, before the address is verified.
func TestUnverifiedAtTokenEndpoint(t *testing.T) {
	s := startServer(t, nil)
	s.postJSON("/api/v1/auth/signup", `{"email":"late@example.com","password":"password123"}`, nil)
	r := s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"late@example.com"}, "password": {"password123"}})
	m := r.JSON(t)
	if r.Status != http.StatusBadRequest || m["error"] != "invalid_grant" || m["reason"] != "EMAIL_NOT_VERIFIED" || m["access_token"] != nil {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	// A wrong password does not reveal the address is unverified.
	r = s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"late@example.com"}, "password": {"wrong password"}})
	if m := r.JSON(t); m["reason"] != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong password on unverified account: %d %s", r.Status, r.Body)
	}
}

// TestSignupRevealsExisting: the seed-002 switch answers 409 for a verified
// address, and nothing changes for new ones.
func TestSignupRevealsExisting(t *testing.T) {
	s := startServer(t, map[string]string{"APP_SIGNUP_REVEALS_EXISTING": "true"})
	r := s.postJSON("/api/v1/auth/signup", `{"email":"admin@auth1.dev","password":"a long passphrase"}`, nil)
	if r.Status != http.StatusConflict || reasonOf(t, r.Body) != "ADDRESS_IN_USE" {
		t.Fatalf("known address: %d %s", r.Status, r.Body)
	}
	if r := s.postJSON("/api/v1/auth/signup", `{"email":"fresh@example.com","password":"a long passphrase"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("new address: %d %s", r.Status, r.Body)
	}
}
