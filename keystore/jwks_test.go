package keystore_test

import (
	"bytes"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keystore"
)

func TestJWKSHandler(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0, keystore.WithJWKSMaxAge(90*time.Second))
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	jwks := m.JWKS()
	opaque := strings.Trim(jwks.ETag, `"`)
	h := m.JWKSHandler()

	for _, tc := range []struct {
		name        string
		method      string
		ifNoneMatch []string // one entry per header line
		want        int
	}{
		{"GET", http.MethodGet, nil, http.StatusOK},
		{"HEAD", http.MethodHead, nil, http.StatusOK},
		{"matching ETag", http.MethodGet, []string{jwks.ETag}, http.StatusNotModified},
		{"matching ETag on HEAD", http.MethodHead, []string{jwks.ETag}, http.StatusNotModified},
		{"weak match", http.MethodGet, []string{"W/" + jwks.ETag}, http.StatusNotModified},
		{"star", http.MethodGet, []string{"*"}, http.StatusNotModified},
		{"in a list", http.MethodGet, []string{`"old", W/"older",` + jwks.ETag}, http.StatusNotModified},
		{"list without spaces", http.MethodGet, []string{`"old",` + jwks.ETag + `,"x"`}, http.StatusNotModified},
		{"after a tag holding a comma", http.MethodGet, []string{`"a,b", ` + jwks.ETag}, http.StatusNotModified},
		{"on a second header line", http.MethodGet, []string{`"old"`, jwks.ETag}, http.StatusNotModified},
		{"empty members", http.MethodGet, []string{` , ,` + jwks.ETag}, http.StatusNotModified},
		{"other ETag", http.MethodGet, []string{`"old"`}, http.StatusOK},
		{"unquoted", http.MethodGet, []string{opaque}, http.StatusOK},
		{"unterminated", http.MethodGet, []string{`"` + opaque}, http.StatusOK},
		{"prefix of the ETag", http.MethodGet, []string{jwks.ETag[:len(jwks.ETag)-2] + `"`}, http.StatusOK},
		{"lower-case weak prefix", http.MethodGet, []string{"w/" + jwks.ETag}, http.StatusOK},
		{"after a malformed member", http.MethodGet, []string{`bad, ` + jwks.ETag}, http.StatusOK},
		{"empty", http.MethodGet, []string{""}, http.StatusOK},
		{"POST", http.MethodPost, nil, http.StatusMethodNotAllowed},
		{"PUT with matching ETag", http.MethodPut, []string{jwks.ETag}, http.StatusMethodNotAllowed},
		{"DELETE", http.MethodDelete, nil, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/.well-known/jwks.json", nil)
			for _, v := range tc.ifNoneMatch {
				r.Header.Add("If-None-Match", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := w.Result()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
			hdr := func(name string) string { return res.Header.Get(name) }
			switch tc.want {
			case http.StatusOK:
				if got := hdr("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type %q", got)
				}
				if got := hdr("Content-Length"); got != strconv.Itoa(len(jwks.Body)) {
					t.Errorf("Content-Length %q, want %d", got, len(jwks.Body))
				}
				wantBody := jwks.Body
				if tc.method == http.MethodHead {
					wantBody = nil
				}
				if !bytes.Equal(w.Body.Bytes(), wantBody) {
					t.Errorf("body %q, want %q", w.Body.Bytes(), wantBody)
				}
			case http.StatusNotModified:
				if w.Body.Len() != 0 {
					t.Errorf("304 with a body: %q", w.Body.Bytes())
				}
			case http.StatusMethodNotAllowed:
				if got := hdr("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow %q, want GET, HEAD", got)
				}
				return
			}
			if got := hdr("Cache-Control"); got != "public, max-age=90" {
				t.Errorf("Cache-Control %q, want public, max-age=90", got)
			}
			if got := hdr("ETag"); got != jwks.ETag {
				t.Errorf("ETag %q, want %q", got, jwks.ETag)
			}
		})
	}
}

func TestJWKSHandlerDefaultMaxAge(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	w := httptest.NewRecorder()
	m.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := w.Result().Header.Get("Cache-Control"); got != "public, max-age=600" {
		t.Fatalf("Cache-Control %q, want public, max-age=600", got)
	}
}

func TestJWKSHandlerBeforeLoad(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	w := httptest.NewRecorder()
	m.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d before Load, want 503", w.Code)
	}
}

// discardWriter is a ResponseWriter that allocates nothing once its header
// map holds every key, unlike httptest.ResponseRecorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func TestJWKSHandlerDoesNotAllocate(t *testing.T) {
	m := newManager(t, keystore.NewMemoryStore(), testKEK, 0)
	if err := m.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := m.JWKSHandler()
	for name, inm := range map[string]string{
		"200": `"old", W/"older"`,
		"304": `"old", ` + m.JWKS().ETag,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("If-None-Match", inm)
		w := &discardWriter{h: http.Header{}}
		if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
			t.Errorf("%s: handler allocates %v times per request", name, n)
		}
	}
}

func BenchmarkJWKSHandler(b *testing.B) {
	keys := testKeys(b)
	m := keystore.NewManager(keystore.NewMemoryStore(), testKEK,
		keystore.WithLogger(slog.New(slog.DiscardHandler)),
		keystore.WithGenerator(func(int) (*rsa.PrivateKey, error) { return keys[0], nil }))
	if err := m.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	h := m.JWKSHandler()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
