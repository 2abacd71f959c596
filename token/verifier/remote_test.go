package verifier_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/token/verifier"
)

// authdServer plays authd's discovery and JWKS endpoints, counting JWKS
// requests. Its fields under mu may change between requests.
type authdServer struct {
	*httptest.Server
	hits        atomic.Int64  // JWKS requests
	notModified atomic.Int64  // of which answered 304
	x5uHits     atomic.Int64  // requests to a URL only a JWKS's x5u or jku names
	arrived     chan struct{} // one value per JWKS request, dropped when full

	mu        sync.Mutex
	doc       map[string]any // discovery document; nil for authd's
	jwks      []byte
	header    http.Header   // added to JWKS 200 and 304 responses
	header304 http.Header   // replaces header on a 304 when non-nil
	status    int           // JWKS answers this status when not zero
	hangUp    bool          // JWKS closes the connection without answering
	gate      chan struct{} // JWKS requests wait for it to close when non-nil
}

func newAuthd(t testing.TB, jwks []byte) *authdServer {
	t.Helper()
	s := &authdServer{
		jwks:    jwks,
		header:  http.Header{"Cache-Control": {"public, max-age=600"}},
		arrived: make(chan struct{}, 100),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", s.serveJWKS)
	mux.HandleFunc("/x5u", func(http.ResponseWriter, *http.Request) { s.x5uHits.Add(1) })
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// set changes the server's behaviour between requests.
func (s *authdServer) set(f func(s *authdServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *authdServer) discovery(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	doc := s.doc
	s.mu.Unlock()
	if doc == nil {
		doc = map[string]any{"issuer": s.URL, "jwks_uri": s.URL + "/.well-known/jwks.json"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *authdServer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.hangUp:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	case s.status != 0:
		w.WriteHeader(s.status)
		return
	}
	sum := sha256.Sum256(s.jwks)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	header := s.header
	notModified := r.Header.Get("If-None-Match") == etag
	if notModified {
		s.notModified.Add(1)
		if s.header304 != nil {
			header = s.header304
		}
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("ETag", etag)
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(s.jwks)))
	_, _ = w.Write(s.jwks)
}

// rsaJWK is authd's JWK for pub, changed by mod when it is not nil.
func rsaJWK(kid string, pub *rsa.PublicKey, mod func(k map[string]any)) map[string]any {
	k := map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	if mod != nil {
		mod(k)
	}
	return k
}

func jwksOf(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// oversized is a valid JWKS with k1 that is larger than any we accept.
func oversized() []byte {
	return jwksOf(rsaJWK("k1", &testKey().PublicKey, func(k map[string]any) { k["pad"] = strings.Repeat("x", 1<<20) }))
}

// clock is a settable verifier.WithRemoteClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var quiet = verifier.WithLogger(slog.New(slog.DiscardHandler))

// remoteKeys is a RemoteKeySet of s's keys on clk, failing the test if it
// cannot be built.
func remoteKeys(t testing.TB, s *authdServer, clk *clock, opts ...verifier.RemoteOption) *verifier.RemoteKeySet {
	t.Helper()
	opts = append([]verifier.RemoteOption{verifier.WithRemoteClock(clk.Now), quiet}, opts...)
	ks, err := verifier.NewRemoteKeySet(context.Background(), s.URL, opts...)
	if err != nil {
		t.Fatalf("NewRemoteKeySet: %v", err)
	}
	return ks
}

// wantHits fails the test unless s has had want JWKS requests, once any
// fetch ks has in flight is done.
func wantHits(t *testing.T, ks *verifier.RemoteKeySet, s *authdServer, want int64) {
	t.Helper()
	ks.Settle()
	if got := s.hits.Load(); got != want {
		t.Fatalf("%d JWKS requests, want %d", got, want)
	}
}

func wantKey(t *testing.T, ks *verifier.RemoteKeySet, kid string, want *rsa.PublicKey) {
	t.Helper()
	got, ok := ks.PublicKey(kid)
	switch {
	case want == nil && ok:
		t.Fatalf("PublicKey(%q) found a key, want none", kid)
	case want != nil && (!ok || !got.Equal(want)):
		t.Fatalf("PublicKey(%q) = %v, %v; want the published key", kid, got, ok)
	}
}

func TestNewRemoteKeySet(t *testing.T) {
	k1 := jwksOf(rsaJWK("k1", &testKey().PublicKey, nil))
	for _, tc := range []struct {
		name    string
		issuer  func(s *authdServer) string // s.URL when nil
		setup   func(s *authdServer)
		opts    []verifier.RemoteOption
		wantErr string
	}{
		{name: "authd"},
		{name: "issuer mismatch", setup: func(s *authdServer) {
			s.doc = map[string]any{"issuer": "https://id.example.com", "jwks_uri": s.URL + "/.well-known/jwks.json"}
		}, wantErr: "names issuer"},
		{name: "issuer differs by a trailing slash", issuer: func(s *authdServer) string { return s.URL + "/" },
			wantErr: "names issuer"},
		{name: "no jwks_uri", setup: func(s *authdServer) { s.doc = map[string]any{"issuer": s.URL} },
			wantErr: "jwks_uri"},
		{name: "relative jwks_uri", setup: func(s *authdServer) {
			s.doc = map[string]any{"issuer": s.URL, "jwks_uri": "/.well-known/jwks.json"}
		}, wantErr: "jwks_uri"},
		{name: "no discovery document", issuer: func(s *authdServer) string { return s.URL + "/tenant" },
			wantErr: "404"},
		{name: "oversized discovery document", setup: func(s *authdServer) {
			s.doc = map[string]any{"issuer": s.URL, "jwks_uri": s.URL + "/.well-known/jwks.json", "pad": strings.Repeat("x", 1<<20)}
		}, wantErr: "exceeds"},
		{name: "JWKS unavailable", setup: func(s *authdServer) { s.status = http.StatusServiceUnavailable },
			wantErr: "503"},
		{name: "JWKS without a usable key", setup: func(s *authdServer) {
			s.jwks = jwksOf(rsaJWK("k1", &testKey().PublicKey, func(k map[string]any) { k["use"] = "enc" }))
		}, wantErr: "no RSA signature key"},
		{name: "oversized JWKS", setup: func(s *authdServer) { s.jwks = oversized() }, wantErr: "exceeds"},
		{name: "issuer not a URL", issuer: func(*authdServer) string { return "id.example.com" },
			wantErr: "not an http(s) URL"},
		{name: "issuer with a query", issuer: func(s *authdServer) string { return s.URL + "?tenant=1" },
			wantErr: "not an http(s) URL"},
		{name: "minimum cache age above maximum",
			opts:    []verifier.RemoteOption{verifier.WithMinCacheAge(2 * time.Hour), verifier.WithMaxCacheAge(time.Hour)},
			wantErr: "cache ages"},
		{name: "zero refetch interval", opts: []verifier.RemoteOption{verifier.WithRefetchInterval(0)},
			wantErr: "refetch interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthd(t, k1)
			if tc.setup != nil {
				s.set(tc.setup)
			}
			iss := s.URL
			if tc.issuer != nil {
				iss = tc.issuer(s)
			}
			ks, err := verifier.NewRemoteKeySet(context.Background(), iss, append(tc.opts, quiet)...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRemoteKeySet: %v", err)
				}
				wantKey(t, ks, "k1", &testKey().PublicKey)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewRemoteKeySet error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// An https issuer must not hand out keys over plain http.
func TestNewRemoteKeySetRefusesDowngrade(t *testing.T) {
	plain := newAuthd(t, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
	var tls *httptest.Server
	tls = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": tls.URL, "jwks_uri": plain.URL + "/.well-known/jwks.json"})
	}))
	defer tls.Close()
	_, err := verifier.NewRemoteKeySet(context.Background(), tls.URL, verifier.WithHTTPClient(tls.Client()), quiet)
	if err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("NewRemoteKeySet error %v, want jwks_uri not https", err)
	}
	if n := plain.hits.Load(); n != 0 {
		t.Fatalf("fetched the http JWKS %d times", n)
	}
}

func TestRemoteKeySetCacheAge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		opts   []verifier.RemoteOption
		fresh  time.Duration
	}{
		{"max-age", http.Header{"Cache-Control": {"public, max-age=600"}}, nil, 10 * time.Minute},
		{"max-age less Age", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"100"}}, nil, 500 * time.Second},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="600"`}}, nil, 10 * time.Minute},
		{"s-maxage ignored", http.Header{"Cache-Control": {"s-maxage=3600, max-age=600"}}, nil, 10 * time.Minute},
		{"below the minimum", http.Header{"Cache-Control": {"max-age=5"}}, nil, time.Minute},
		{"below a lower minimum", http.Header{"Cache-Control": {"max-age=5"}},
			[]verifier.RemoteOption{verifier.WithMinCacheAge(10 * time.Second)}, 10 * time.Second},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, nil, time.Minute},
		{"no-store beats max-age", http.Header{"Cache-Control": {"max-age=600", "no-store"}}, nil, time.Minute},
		{"no Cache-Control", http.Header{}, nil, time.Minute},
		{"above the maximum", http.Header{"Cache-Control": {"max-age=86400"}},
			[]verifier.RemoteOption{verifier.WithMaxCacheAge(time.Hour)}, time.Hour},
		{"beyond 31 bits", http.Header{"Cache-Control": {"max-age=99999999999"}}, nil, 24 * time.Hour},
		{"Age beyond 31 bits", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"99999999999"}}, nil, time.Minute},
		{"Age not a number", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"soon"}}, nil, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthd(t, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
			s.set(func(s *authdServer) { s.header = tc.header })
			clk := &clock{now: t0}
			ks := remoteKeys(t, s, clk, tc.opts...)
			wantHits(t, ks, s, 1)

			clk.Advance(tc.fresh - time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 1)

			clk.Advance(time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)

			// The refreshed set is fresh again.
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)
		})
	}
}

func TestRemoteKeySetUnknownKid(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []verifier.RemoteOption
		interval time.Duration
	}{
		{"default interval", nil, 30 * time.Second},
		{"five minutes", []verifier.RemoteOption{verifier.WithRefetchInterval(5 * time.Minute)}, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthd(t, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
			s.set(func(s *authdServer) { s.header = http.Header{"Cache-Control": {"max-age=86400"}} })
			clk := &clock{now: t0}
			ks := remoteKeys(t, s, clk, tc.opts...)

			wantKey(t, ks, "forged-1", nil)
			wantHits(t, ks, s, 2)

			// Within the interval, another unknown kid fetches nothing...
			clk.Advance(tc.interval - time.Second)
			wantKey(t, ks, "forged-2", nil)
			wantHits(t, ks, s, 2)
			// ...and known kids are unaffected.
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)

			clk.Advance(time.Second)
			wantKey(t, ks, "forged-3", nil)
			wantHits(t, ks, s, 3)
		})
	}
}

// authd publishes its next key, then signs with it, then drops the old one.
func TestRemoteKeySetRotation(t *testing.T) {
	old, next := &testKey().PublicKey, &otherKey().PublicKey
	s := newAuthd(t, jwksOf(rsaJWK("k1", old, nil)))
	clk := &clock{now: t0}
	ks := remoteKeys(t, s, clk)
	v := verifier.New(ks, s.URL, verifier.WithClock(clk.Now), verifier.WithAudience("api"))
	mint := func(key *rsa.PrivateKey, kid string) string {
		return signWith(t, key, jose.RS256, kid, (&jose.SignerOptions{}).WithType("at+jwt"),
			claims(func(c *verifier.Claims) { c.Issuer = s.URL }))
	}

	if _, err := v.Verify(mint(testKey(), "k1")); err != nil {
		t.Fatalf("Verify with k1: %v", err)
	}
	// A token with the new kid before our cached set has expired: one
	// refetch finds it.
	s.set(func(s *authdServer) { s.jwks = jwksOf(rsaJWK("k1", old, nil), rsaJWK("k2", next, nil)) })
	clk.Advance(time.Minute)
	if _, err := v.Verify(mint(otherKey(), "k2")); err != nil {
		t.Fatalf("Verify with k2 after rotation: %v", err)
	}
	wantHits(t, ks, s, 2)
	if _, err := v.Verify(mint(testKey(), "k1")); err != nil {
		t.Fatalf("Verify with k1 still published: %v", err)
	}

	// k1 is retired: once the set expires it is refreshed without k1.
	s.set(func(s *authdServer) { s.jwks = jwksOf(rsaJWK("k2", next, nil)) })
	clk.Advance(10 * time.Minute)
	if _, err := v.Verify(mint(otherKey(), "k2")); err != nil {
		t.Fatalf("Verify with k2: %v", err)
	}
	wantHits(t, ks, s, 3)
	if _, err := v.Verify(mint(testKey(), "k1")); !errors.Is(err, verifier.ErrInvalidToken) {
		t.Fatalf("Verify with retired k1 = %v, want ErrInvalidToken", err)
	}
}

func TestRemoteKeySetETag(t *testing.T) {
	for _, tc := range []struct {
		name      string
		header304 http.Header
		fresh     time.Duration // after a 304
	}{
		{"304 with Cache-Control", http.Header{"Cache-Control": {"max-age=120"}}, 2 * time.Minute},
		{"304 without Cache-Control keeps the lifetime", http.Header{}, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthd(t, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
			s.set(func(s *authdServer) { s.header304 = tc.header304 })
			clk := &clock{now: t0}
			ks := remoteKeys(t, s, clk)

			clk.Advance(10 * time.Minute)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)
			if n := s.notModified.Load(); n != 1 {
				t.Fatalf("%d 304 answers, want 1", n)
			}
			wantKey(t, ks, "k1", &testKey().PublicKey)

			// The 304 made the set fresh again.
			clk.Advance(tc.fresh - time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)

			// A changed set comes back whole, with its new ETag.
			s.set(func(s *authdServer) { s.jwks = jwksOf(rsaJWK("k2", &otherKey().PublicKey, nil)) })
			clk.Advance(time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 3)
			wantKey(t, ks, "k2", &otherKey().PublicKey)
			wantKey(t, ks, "k1", nil)
			clk.Advance(10 * time.Minute)
			wantKey(t, ks, "k2", &otherKey().PublicKey)
			wantHits(t, ks, s, 5) // one for the unknown k1, one on expiry
			if n := s.notModified.Load(); n != 3 {
				t.Fatalf("%d 304 answers, want 3", n)
			}
		})
	}
}

func TestRemoteKeySetFetchFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(s *authdServer)
		opts []verifier.RemoteOption
	}{
		{"server error", func(s *authdServer) { s.status = http.StatusInternalServerError }, nil},
		// Without keep-alives, as net/http retries a GET once when a reused
		// connection closes, which would double the count.
		{"connection closed", func(s *authdServer) { s.hangUp = true },
			[]verifier.RemoteOption{verifier.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})}},
		{"not JSON", func(s *authdServer) { s.jwks = []byte("<html>maintenance</html>") }, nil},
		{"no usable key", func(s *authdServer) {
			s.jwks = jwksOf(map[string]any{"kty": "EC", "kid": "e1", "crv": "P-256", "x": "AA", "y": "AA"})
		}, nil},
		{"oversized", func(s *authdServer) { s.jwks = oversized() }, nil},
		{"timeout", func(s *authdServer) { s.gate = make(chan struct{}) },
			[]verifier.RemoteOption{verifier.WithHTTPClient(&http.Client{Timeout: 200 * time.Millisecond})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			healthy := jwksOf(rsaJWK("k1", &testKey().PublicKey, nil))
			s := newAuthd(t, healthy)
			clk := &clock{now: t0}
			ks := remoteKeys(t, s, clk, tc.opts...)
			s.set(tc.fail)
			t.Cleanup(func() { // before the server closes
				s.set(func(s *authdServer) {
					if s.gate != nil {
						close(s.gate)
					}
				})
			})

			clk.Advance(10 * time.Minute)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 2)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantKey(t, ks, "k2", nil) // an unknown kid still gets its refetch
			wantHits(t, ks, s, 3)

			// Failed: not asked again before the refetch interval.
			clk.Advance(29 * time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 3)
			clk.Advance(time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 4)

			s.set(func(s *authdServer) {
				if s.gate != nil {
					close(s.gate)
				}
				s.jwks, s.status, s.hangUp, s.gate = healthy, 0, false, nil
			})
			clk.Advance(30 * time.Second)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 5)
			clk.Advance(9 * time.Minute)
			wantKey(t, ks, "k1", &testKey().PublicKey)
			wantHits(t, ks, s, 5)
		})
	}
}

// While a refresh waits on a slow authd, callers with a cached kid go on
// without waiting, and callers with the new kid share the one fetch.
func TestRemoteKeySetConcurrentRefresh(t *testing.T) {
	s := newAuthd(t, jwksOf(rsaJWK("k1", &testKey().PublicKey, nil)))
	clk := &clock{now: t0}
	ks := remoteKeys(t, s, clk)
	<-s.arrived
	gate := make(chan struct{})
	s.set(func(s *authdServer) {
		s.gate = gate
		s.jwks = jwksOf(rsaJWK("k1", &testKey().PublicKey, nil), rsaJWK("k2", &otherKey().PublicKey, nil))
	})
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	clk.Advance(10 * time.Minute)

	const callers = 50
	var cached sync.WaitGroup
	for range callers {
		cached.Go(func() {
			if _, ok := ks.PublicKey("k1"); !ok {
				t.Error("PublicKey(k1) found nothing during a refresh")
			}
		})
	}
	done := make(chan struct{})
	go func() { cached.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("PublicKey of a cached kid waited for the refresh")
	}
	<-s.arrived // the refresh has reached authd and waits at the gate

	var fresh sync.WaitGroup
	for range callers {
		fresh.Go(func() {
			if _, ok := ks.PublicKey("k2"); !ok {
				t.Error("PublicKey(k2) found nothing after the refresh")
			}
		})
	}
	close(gate)
	fresh.Wait()
	wantHits(t, ks, s, 2)
}

func TestRemoteKeySetKeyFilter(t *testing.T) {
	pub, other := &testKey().PublicKey, &otherKey().PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	weak := new(big.Int).SetBit(big.NewInt(1), 1023, 1) // 1024 bits
	for _, tc := range []struct {
		name string
		kid  string
		keys []map[string]any
		want *rsa.PublicKey // nil: skipped
	}{
		{"authd's", "a", []map[string]any{rsaJWK("a", pub, nil)}, pub},
		{"no use, no alg", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { delete(k, "use"); delete(k, "alg") })}, pub},
		{"PS256", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["alg"] = "PS256" })}, pub},
		{"key_ops verify", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { delete(k, "use"); k["key_ops"] = []string{"verify"} })}, pub},
		{"x5c, x5u and jku ignored", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) {
			k["x5c"] = []string{"bm90IGEgY2VydGlmaWNhdGU"}
			k["x5u"], k["jku"] = "/x5u", "/x5u" // made absolute below
		})}, pub},
		{"duplicate kid keeps the first", "a", []map[string]any{rsaJWK("a", pub, nil), rsaJWK("a", other, nil)}, pub},
		{"use enc", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["use"] = "enc" })}, nil},
		{"alg RS512", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["alg"] = "RS512" })}, nil},
		{"alg HS256", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["alg"] = "HS256" })}, nil},
		{"alg RSA-OAEP", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["alg"] = "RSA-OAEP" })}, nil},
		{"key_ops encrypt", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { delete(k, "use"); k["key_ops"] = []string{"encrypt"} })}, nil},
		{"EC", "a", []map[string]any{{"kty": "EC", "use": "sig", "kid": "a", "crv": "P-256",
			"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}, nil},
		{"oct", "a", []map[string]any{{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}}, nil},
		{"1024 bits", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["n"] = b64(weak.Bytes()) })}, nil},
		{"even exponent", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["e"] = b64([]byte{2}) })}, nil},
		{"exponent beyond 31 bits", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["e"] = b64([]byte{1, 0, 0, 0, 1}) })}, nil},
		{"n not base64url", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["n"] = "n+/=" })}, nil},
		{"n not a string", "a", []map[string]any{rsaJWK("a", pub, func(k map[string]any) { k["n"] = 5 })}, nil},
		{"no kid", "", []map[string]any{rsaJWK("", pub, nil)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthd(t, nil)
			for _, k := range tc.keys {
				for _, m := range []string{"x5u", "jku"} {
					if u, ok := k[m].(string); ok {
						k[m] = s.URL + u
					}
				}
			}
			// "good" keeps the set usable whatever tc.keys holds.
			s.set(func(s *authdServer) { s.jwks = jwksOf(append(tc.keys, rsaJWK("good", other, nil))...) })
			ks := remoteKeys(t, s, &clock{now: t0})
			wantKey(t, ks, tc.kid, tc.want)
			ks.Settle()
			if n := s.x5uHits.Load(); n != 0 {
				t.Fatalf("fetched an x5u or jku URL %d times", n)
			}
		})
	}
}
