package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestBadInput: whatever a client sends, the answer is a 4xx with a reason,
// never a 5xx or a hang.
func TestBadInput(t *testing.T) {
	s := startServer(t, nil)
	huge := bytes.Repeat([]byte("a"), 12<<20)
	for _, tc := range []struct {
		name, method, path, contentType string
		body                            []byte
		header                          map[string]string
	}{
		{"REST malformed JSON", "POST", "/api/v1/auth/login", "application/json", []byte(`{"email":`), nil},
		{"REST wrong type", "POST", "/api/v1/auth/login", "application/json", []byte(`{"email":5}`), nil},
		{"REST unknown field", "POST", "/api/v1/auth/login", "application/json", []byte(`{"email":"a@b.co","password":"x","admin":true}`), nil},
		{"REST text/plain", "POST", "/api/v1/auth/login", "text/plain", []byte(`hello`), nil},
		{"REST NUL byte", "POST", "/api/v1/auth/signup", "application/json", []byte(`{"email":"a\u0000@b.co","password":"long enough"}`), nil},
		{"REST array", "POST", "/api/v1/auth/signup", "application/json", []byte(`[1,2]`), nil},
		{"REST 12MB", "POST", "/api/v1/auth/signup", "application/json", huge, nil},
		{"REST unknown path", "POST", "/api/v1/auth/nope", "application/json", []byte(`{}`), nil},
		{"Connect malformed JSON", "POST", "/authd.v1.TokenService/Login", "application/json", []byte(`{"email"`), nil},
		{"Connect invalid protobuf", "POST", "/authd.v1.TokenService/Login", "application/proto", []byte{0xff, 0xff, 0xff, 0xff}, nil},
		{"Connect 12MB", "POST", "/authd.v1.TokenService/Login", "application/json", huge, nil},
		{"Connect wrong content type", "POST", "/authd.v1.TokenService/Login", "text/xml", []byte(`<a/>`), nil},
		{"Connect unknown method", "POST", "/authd.v1.TokenService/Nope", "application/json", []byte(`{}`), nil},
		{"token 12MB", "POST", "/token", "application/x-www-form-urlencoded", huge, nil},
		{"verify-signup no code", "POST", "/api/v1/auth/verify-signup", "application/json", []byte(`{"email":"a@b.co"}`), nil},
		{"verify-signup bad code", "POST", "/api/v1/auth/verify-signup", "application/json", []byte(`{"email":"a@b.co","otp":"12345x"}`), nil},
		{"login no password", "POST", "/api/v1/auth/login", "application/json", []byte(`{"email":"a@b.co"}`), nil},
		{"login both addresses", "POST", "/api/v1/auth/login", "application/json", []byte(`{"email":"a@b.co","phone":"+14155550100","password":"x"}`), nil},
		{"refresh empty", "POST", "/api/v1/auth/refresh", "application/json", []byte(`{}`), nil},
		{"logout empty", "POST", "/api/v1/auth/logout", "application/json", []byte(`{}`), nil},
		{"refresh giant token", "POST", "/api/v1/auth/refresh", "application/json", []byte(`{"refresh_token":"` + strings.Repeat("x", 100000) + `"}`), nil},
		{"bearer garbage header", "GET", "/api/v1/auth/me", "", nil, map[string]string{"Authorization": "Bearer %%%.{}.~~"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.contentType, bytes.NewReader(tc.body), tc.header)
			if r.Status < 400 || r.Status >= 500 {
				t.Fatalf("got %d %.300s, want 4xx", r.Status, r.Body)
			}
			if len(r.Body) > 0 && strings.Contains(string(r.Body), "goroutine") {
				t.Fatalf("stack trace in response: %.300s", r.Body)
			}
		})
	}
	// The server is still healthy afterwards.
	if r := s.do(http.MethodGet, "/health", "", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("health after bad input: %d", r.Status)
	}
}
