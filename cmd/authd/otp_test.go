package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postFormFrom sends a form to /token as if from client ip, through a
// trusted proxy.
func (s *server) postFormFrom(ip string, form url.Values) response {
	s.t.Helper()
	return s.do(http.MethodPost, "/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
		map[string]string{"X-Forwarded-For": ip})
}

// behindProxy is the environment of a server that trusts the test as its
// proxy, so tests can speak for many client IPs.
func behindProxy(env map[string]string) map[string]string {
	if env == nil {
		env = map[string]string{}
	}
	env["SERVER_TRUSTED_PROXIES"] = "127.0.0.1"
	return env
}

func TestOTPLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)

		r := s.postJSON("/api/v1/auth/request-otp", `{"email": "admin@auth1.dev", "purpose": "login"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("request-otp: %d %s", r.Status, r.Body)
		}
		code := s.latestCode("admin@auth1.dev")
		r = s.postJSON("/api/v1/auth/verify-login", `{"email": "admin@auth1.dev", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("verify-login: %d %s", r.Status, r.Body)
		}
		_, claims := jwtParts(t, str(t, r.JSON(t), "tokens.access_token"))
		if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "otp" {
			t.Fatalf("amr %v, want [otp]", claims["amr"])
		}
		// Single use.
		r = s.postJSON("/api/v1/auth/verify-login", `{"email": "admin@auth1.dev", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusBadRequest || reasonOf(t, r.Body) != "INVALID_CODE" {
			t.Fatalf("replayed code: %d %s", r.Status, r.Body)
		}

		// The same through /token; a new code replaces the old one.
		s.postJSON("/api/v1/auth/request-otp", `{"email": "user1@auth1.dev"}`, nil)
		old := s.latestCode("user1@auth1.dev")
		form := url.Values{"grant_type": {"urn:authd:params:oauth:grant-type:otp"}, "username": {"user1@auth1.dev"}, "otp": {old}}
		if r := s.postForm("/token", form); r.Status != http.StatusOK {
			t.Fatalf("otp grant: %d %s", r.Status, r.Body)
		}
		if r := s.postForm("/token", form); r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("otp grant replay: %d %s", r.Status, r.Body)
		}
	})
}

// TestOTPAttempts: five wrong codes burn the code, so the sixth try fails
// even with the right one; malformed codes are refused without counting.
func TestOTPAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, behindProxy(env))
		s.postJSON("/api/v1/auth/request-otp", `{"email": "user2@auth1.dev"}`, nil)
		code := s.latestCode("user2@auth1.dev")
		wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1000000)
		try := func(i int, otp string) response {
			// A new client IP each time, so the per-(account, IP) limiter
			// does not step in before the code's own attempt limit.
			return s.postFormFrom(fmt.Sprintf("198.51.100.%d", 10+i), url.Values{
				"grant_type": {"urn:authd:params:oauth:grant-type:otp"}, "username": {"user2@auth1.dev"}, "otp": {otp}})
		}
		for _, malformed := range []string{"12345", "1234567", "12a456", "１２３４５６", " 123456"} {
			if r := try(0, malformed); r.Status != http.StatusBadRequest {
				t.Fatalf("malformed %q: %d %s", malformed, r.Status, r.Body)
			}
		}
		for i := range 5 {
			if r := try(i+1, wrong); r.JSON(t)["reason"] != "INVALID_CODE" {
				t.Fatalf("wrong code %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		r := try(7, code)
		if m := r.JSON(t); r.Status != http.StatusBadRequest || m["reason"] != "TOO_MANY_ATTEMPTS" {
			t.Fatalf("sixth try with the right code: %d %s", r.Status, r.Body)
		}
	})
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestPhoneSignupAndLogin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		r := s.postJSON("/api/v1/auth/signup", `{"phone": "+1 (415) 555-0100", "password": "a long phone passphrase"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("phone signup: %d %s", r.Status, r.Body)
		}
		sms := s.awaitMessage("+14155550100", func(m outboxMessage) bool { return m.Variables["otp"] != "" })
		if sms.Channel != "sms" {
			t.Fatalf("signup code by %q, want an SMS to the normalised number", sms.Channel)
		}
		code := sms.Variables["otp"]
		r = s.postJSON("/api/v1/auth/verify-signup", `{"phone": "+14155550100", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("verify by phone: %d %s", r.Status, r.Body)
		}
		if v, _ := r.JSON(t)["user"].(map[string]any)["phone_verified"].(bool); !v {
			t.Fatalf("phone not verified: %s", r.Body)
		}
		// username at /token may be a phone number, in any common spelling.
		r = s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"0014155550100"}, "password": {"a long phone passphrase"}})
		if r.Status != http.StatusOK {
			t.Fatalf("password login by phone: %d %s", r.Status, r.Body)
		}
		// OTP login by SMS.
		s.postJSON("/api/v1/auth/request-otp", `{"phone": "+14155550100", "purpose": "login"}`, nil)
		code = s.latestCode("+14155550100")
		r = s.postJSON("/api/v1/auth/verify-login", `{"phone": "+14155550100", "otp": "`+code+`"}`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("OTP login by phone: %d %s", r.Status, r.Body)
		}
	})
}

// TestNoEnumeration: request-otp and resend answer alike for known and
// unknown addresses.
func TestNoEnumeration(t *testing.T) {
	s := startServer(t, nil)
	for _, path := range []string{"/api/v1/auth/request-otp", "/api/v1/auth/resend-verification"} {
		known := s.postJSON(path, `{"email": "user3@auth1.dev"}`, nil)
		unknown := s.postJSON(path, `{"email": "nobody@example.com"}`, nil)
		if known.Status != http.StatusOK || unknown.Status != known.Status || string(known.Body) != string(unknown.Body) {
			t.Fatalf("%s answers differ:\nknown:   %d %s\nunknown: %d %s", path, known.Status, known.Body, unknown.Status, unknown.Body)
		}
	}
	// Wrong password and unknown user answer the same at /token.
	a := s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"user3@auth1.dev"}, "password": {"wrong password"}})
	b := s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"ghost@auth1.dev"}, "password": {"wrong password"}})
	if a.Status != b.Status || string(a.Body) != string(b.Body) {
		t.Fatalf("/token answers differ:\nknown:   %d %s\nunknown: %d %s", a.Status, a.Body, b.Status, b.Body)
	}
}

// TestThrottling: failures from one IP lock that IP out of the account
// (429, Retry-After, RATE_LIMITED) while the owner on another IP still logs
// in.
func TestThrottling(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, behindProxy(env))
		attacker, owner := "203.0.113.66", "198.51.100.7"
		bad := url.Values{"grant_type": {"password"}, "username": {"user1@auth1.dev"}, "password": {"guess guess"}}
		var limited response
		for i := range 20 {
			r := s.postFormFrom(attacker, bad)
			if r.Status == http.StatusTooManyRequests {
				limited = r
				break
			}
			if r.Status != http.StatusBadRequest {
				t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
			}
		}
		if limited.Status != http.StatusTooManyRequests {
			t.Fatal("20 wrong passwords from one IP were never limited")
		}
		if m := limited.JSON(t); m["reason"] != "RATE_LIMITED" || limited.Header.Get("Retry-After") == "" {
			t.Fatalf("limited answer: %v %s", limited.Header, limited.Body)
		}
		// Even the right password is refused from the attacker's IP now.
		good := url.Values{"grant_type": {"password"}, "username": {"user1@auth1.dev"}, "password": {"password123"}}
		if r := s.postFormFrom(attacker, good); r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password from the limited IP: %d %s", r.Status, r.Body)
		}
		// The owner elsewhere is not locked out.
		if r := s.postFormFrom(owner, good); r.Status != http.StatusOK {
			t.Fatalf("owner from another IP: %d %s", r.Status, r.Body)
		}
		// REST and Connect answer 429 with the reason too.
		r := s.do(http.MethodPost, "/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"user1@auth1.dev","password":"guess guess"}`), map[string]string{"X-Forwarded-For": attacker})
		if r.Status != http.StatusTooManyRequests || reasonOf(t, r.Body) != "RATE_LIMITED" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("REST limited: %d %v %s", r.Status, r.Header, r.Body)
		}
		// Without a trusted proxy, X-Forwarded-For is ignored: the peer counts.
		plain := startServer(t, nil)
		r = plain.do(http.MethodPost, "/token", "application/x-www-form-urlencoded", strings.NewReader(bad.Encode()),
			map[string]string{"X-Forwarded-For": attacker})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("first failure on a fresh server: %d %s", r.Status, r.Body)
		}
	})
}

// TestSendLimits: a second code to the same address within the cooldown is
// refused with 429 and Retry-After.
func TestSendLimits(t *testing.T) {
	s := startServer(t, nil)
	if r := s.postJSON("/api/v1/auth/request-otp", `{"email": "user3@auth1.dev"}`, nil); r.Status != http.StatusOK {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	r := s.postJSON("/api/v1/auth/request-otp", `{"email": "user3@auth1.dev"}`, nil)
	if r.Status != http.StatusTooManyRequests || reasonOf(t, r.Body) != "RATE_LIMITED" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("second within the cooldown: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Unknown addresses are limited the same way.
	s.postJSON("/api/v1/auth/request-otp", `{"email": "nobody@example.com"}`, nil)
	if r := s.postJSON("/api/v1/auth/request-otp", `{"email": "nobody@example.com"}`, nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("unknown address second send: %d %s", r.Status, r.Body)
	}
}

func TestPasswordPolicy(t *testing.T) {
	s := startServer(t, nil)
	for _, tc := range []struct{ password, reason string }{
		{"baseball", "PASSWORD_TOO_COMMON"},
		{"BaseBall", "PASSWORD_TOO_COMMON"},
		{"short", "PASSWORD_TOO_SHORT"},
		{strings.Repeat("x", 129), "PASSWORD_TOO_LONG"},
	} {
		body := fmt.Sprintf(`{"email": "policy-%d@example.com", "password": %q}`, len(tc.password), tc.password)
		r := s.postJSON("/api/v1/auth/signup", body, nil)
		if r.Status != http.StatusBadRequest || reasonOf(t, r.Body) != tc.reason {
			t.Errorf("%q: %d %s, want %s", tc.password, r.Status, r.Body, tc.reason)
		}
	}
}

// TestRefreshFailuresThrottled: invalid refresh tokens are counted per
// client IP (only failures reach the limiter), until that IP gets 429.
func TestRefreshFailuresThrottled(t *testing.T) {
	s := startServer(t, behindProxy(nil))
	good := str(t, s.postFormFrom("198.51.100.20", adminPassword()).JSON(t), "refresh_token")
	limited := false
	for i := range 150 {
		r := s.postFormFrom("203.0.113.99", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fmt.Sprintf("forged-%d", i)}})
		if r.Status == http.StatusTooManyRequests {
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited = true
			break
		}
		if r.Status != http.StatusBadRequest {
			t.Fatalf("forged refresh %d: %d %s", i, r.Status, r.Body)
		}
	}
	if !limited {
		t.Fatal("150 forged refresh tokens from one IP were never limited")
	}
	// Another client's real refresh is unaffected.
	if r := s.postFormFrom("198.51.100.20", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {good}}); r.Status != http.StatusOK {
		t.Fatalf("refresh from another IP: %d %s", r.Status, r.Body)
	}
}
