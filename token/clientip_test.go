package token_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/token"
)

func TestClientIP(t *testing.T) {
	trusted, err := token.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"direct client, header ignored", "203.0.113.9:5555", "198.51.100.1", "203.0.113.9:5555"},
		{"trusted proxy", "10.1.2.3:443", "198.51.100.1", "198.51.100.1:0"},
		{"spoofed left-most entry", "10.1.2.3:443", "1.2.3.4, 198.51.100.1", "198.51.100.1:0"},
		{"chain of trusted proxies", "10.1.2.3:443", "198.51.100.1, 192.0.2.7, 10.9.9.9", "198.51.100.1:0"},
		{"trusted proxy without header", "10.1.2.3:443", "", "10.1.2.3:443"},
		{"garbage hop stops the walk", "10.1.2.3:443", "198.51.100.1, junk", "10.1.2.3:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := token.ClientIP(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("RemoteAddr %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := token.ParseTrustedProxies([]string{"not-an-ip"}); err == nil {
		t.Fatal("accepted a bad proxy")
	}
}
