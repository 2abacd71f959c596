package verifier

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// fetchTimeout bounds every request, also through a caller's
	// http.Client that has no timeout: a PublicKey call for an unknown kid
	// waits for its fetch.
	fetchTimeout = 10 * time.Second
	// maxResponseBytes bounds a discovery document or JWKS (authd's are a
	// few KiB), so a broken or hostile endpoint cannot exhaust memory.
	maxResponseBytes = 1 << 20
	// minRSABits matches the smallest key authd generates.
	minRSABits = 2048
)

// RemoteKeySet is a [KeySource] holding the signing keys an authd issuer
// publishes. It finds the JWKS through OpenID Connect discovery and keeps
// it cached:
//
//   - for as long as the JWKS response's Cache-Control max-age allows,
//     clamped to [WithMinCacheAge] and [WithMaxCacheAge]. Once that has
//     passed, the next PublicKey call starts a refresh in the background and
//     every caller keeps using the cached keys meanwhile;
//   - refetched at once when a token names a kid the set lacks, so a key
//     authd has just rotated in is found; at most once per
//     [WithRefetchInterval], so tokens with made-up kids cannot make it
//     hammer authd;
//   - revalidated with If-None-Match, a 304 keeping the keys;
//   - kept as it is when a fetch fails, the failure logged and retried no
//     sooner than the refetch interval.
//
// Only one fetch is ever in flight. Looking up a key takes no lock.
//
// Only RSA keys meant for signatures are taken (use "sig" or none, alg
// RS256, PS256 or none, at least 2048 bits); other keys are skipped. A key
// is its n and e: x5c, x5u and jku members are never read or fetched.
type RemoteKeySet struct {
	issuer          string
	jwksURI         string
	client          *http.Client
	now             func() time.Time
	log             *slog.Logger
	refetchInterval time.Duration
	minAge, maxAge  time.Duration

	set    atomic.Pointer[keySet]
	flight atomic.Pointer[flight] // the fetch in flight, or nil

	mu          sync.Mutex // serialises starting a fetch
	lastUnknown time.Time  // guarded by mu: when an unknown kid last started a fetch
}

var _ KeySource = (*RemoteKeySet)(nil)

// keySet is one fetched JWKS. It is never modified: a refresh publishes a
// new one, so readers need no lock.
type keySet struct {
	keys     map[string]*rsa.PublicKey
	etag     string
	lifetime time.Duration // what the last response allowed, clamped
	expires  time.Time
}

// flight is a fetch in progress; done is closed once its result (or the
// kept set, on failure) is published.
type flight struct{ done chan struct{} }

// RemoteOption configures a RemoteKeySet.
type RemoteOption func(*RemoteKeySet)

// WithHTTPClient fetches with c instead of [http.DefaultClient]. Whatever
// c's own timeout, no request runs longer than 10 s.
func WithHTTPClient(c *http.Client) RemoteOption { return func(r *RemoteKeySet) { r.client = c } }

// WithRefetchInterval sets the minimum time between fetches caused by an
// unknown kid, and the delay before retrying a failed fetch (default 30 s).
func WithRefetchInterval(d time.Duration) RemoteOption {
	return func(r *RemoteKeySet) { r.refetchInterval = d }
}

// WithMinCacheAge sets the shortest time fetched keys are used before a
// refresh, whatever the response's Cache-Control says (default 1 min): it
// bounds how often a "no-cache" or tiny max-age makes us fetch.
func WithMinCacheAge(d time.Duration) RemoteOption { return func(r *RemoteKeySet) { r.minAge = d } }

// WithMaxCacheAge sets the longest time fetched keys are used before a
// refresh (default 24 h), so a key removed from the JWKS is dropped in time
// even when max-age is huge.
func WithMaxCacheAge(d time.Duration) RemoteOption { return func(r *RemoteKeySet) { r.maxAge = d } }

// WithRemoteClock replaces time.Now for cache ages and refetch intervals.
func WithRemoteClock(now func() time.Time) RemoteOption {
	return func(r *RemoteKeySet) { r.now = now }
}

// WithLogger logs failed background refreshes to l (default
// [slog.Default]); nothing else is logged.
func WithLogger(l *slog.Logger) RemoteOption { return func(r *RemoteKeySet) { r.log = l } }

// NewRemoteKeySet fetches issuer's discovery document
// (issuer/.well-known/openid-configuration), checks that it names exactly
// issuer, and fetches the JWKS at its jwks_uri. It fails if either fetch
// does or the JWKS holds no usable key, so a service finds a wrong issuer
// at start-up. ctx bounds these first fetches only; later ones run on
// their own timeout.
//
// issuer is an http or https URL, spelt exactly as authd's configured
// issuer (and as passed to [New]); the keys of an https issuer are only
// fetched over https.
func NewRemoteKeySet(ctx context.Context, issuer string, opts ...RemoteOption) (*RemoteKeySet, error) {
	r := &RemoteKeySet{
		issuer:          issuer,
		client:          http.DefaultClient,
		now:             time.Now,
		log:             slog.Default(),
		refetchInterval: 30 * time.Second,
		minAge:          time.Minute,
		maxAge:          24 * time.Hour,
	}
	for _, o := range opts {
		o(r)
	}
	switch {
	case r.client == nil || r.now == nil || r.log == nil:
		return nil, errors.New("verifier: nil HTTP client, clock or logger")
	case r.refetchInterval <= 0:
		return nil, fmt.Errorf("verifier: refetch interval %s is not positive", r.refetchInterval)
	case r.minAge <= 0 || r.maxAge < r.minAge:
		return nil, fmt.Errorf("verifier: cache ages [%s, %s] are not a positive range", r.minAge, r.maxAge)
	}
	iss, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("verifier: issuer: %w", err)
	}
	if (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("verifier: issuer %q is not an http(s) URL without query or fragment", issuer)
	}
	if r.jwksURI, err = r.discover(ctx, iss); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	s, err := r.fetch(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	r.set.Store(s)
	return r, nil
}

// PublicKey returns the key published under kid. When the set holds kid it
// never waits for the network, even if the set is due for a refresh. For an
// unknown kid it fetches the set and waits (at most 10 s) for the answer,
// unless another unknown kid started a fetch within the refetch interval.
func (r *RemoteKeySet) PublicKey(kid string) (*rsa.PublicKey, bool) {
	s := r.set.Load()
	if k, ok := s.keys[kid]; ok {
		if !r.now().Before(s.expires) && r.flight.Load() == nil {
			r.refresh(s, false)
		}
		return k, true
	}
	done := r.refresh(s, true)
	if done == nil {
		return nil, false
	}
	<-done
	k, ok := r.set.Load().keys[kid]
	return k, ok
}

// closed is returned by refresh when the set to consult is already current.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// refresh starts a fetch to replace seen, the set the caller looked in,
// and returns a channel closed once the set worth consulting is published:
// the fetch in flight if any, or none if seen was replaced meanwhile. It
// returns nil when an unknown kid may not start a fetch yet.
func (r *RemoteKeySet) refresh(seen *keySet, unknownKid bool) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flight.Load(); f != nil {
		return f.done
	}
	if r.set.Load() != seen {
		return closed
	}
	if unknownKid {
		now := r.now()
		if now.Sub(r.lastUnknown) < r.refetchInterval {
			return nil
		}
		r.lastUnknown = now
	}
	f := &flight{done: make(chan struct{})}
	r.flight.Store(f)
	go r.run(seen, f)
	return f.done
}

// run fetches the set to replace prev and publishes the result; on failure
// it republishes prev's keys, due again no sooner than the refetch interval
// so that an unreachable authd is not asked on every call.
func (r *RemoteKeySet) run(prev *keySet, f *flight) {
	next, err := r.fetch(context.Background(), prev)
	if err != nil {
		r.log.Warn("verifier: JWKS refresh failed; keeping the cached keys",
			"issuer", r.issuer, "error", err)
		next = &keySet{keys: prev.keys, etag: prev.etag, lifetime: prev.lifetime,
			expires: later(prev.expires, r.now().Add(r.refetchInterval))}
	}
	// Publish before clearing the flight, so that a caller seeing no flight
	// also sees the new set and starts no second fetch.
	r.set.Store(next)
	r.flight.Store(nil)
	close(f.done)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// discover returns the jwks_uri of the issuer's discovery document.
func (r *RemoteKeySet) discover(ctx context.Context, iss *url.URL) (string, error) {
	// OpenID Connect Discovery 1.0 section 4: a terminating "/" of the
	// issuer is removed before the well-known path is appended.
	u := strings.TrimSuffix(r.issuer, "/") + "/.well-known/openid-configuration"
	_, body, _, err := r.get(ctx, u, "")
	if err != nil {
		return "", fmt.Errorf("fetch discovery document %s: %w", u, err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("decode discovery document %s: %w", u, err)
	}
	// Section 4.3: the issuer must be exactly the one asked for, so that
	// metadata served for another issuer (or a look-alike URL) is refused.
	if doc.Issuer != r.issuer {
		return "", fmt.Errorf("discovery document %s names issuer %q, want exactly %q", u, doc.Issuer, r.issuer)
	}
	jwks, err := url.Parse(doc.JWKSURI)
	if err != nil || jwks.Host == "" || (jwks.Scheme != "https" && jwks.Scheme != "http") {
		return "", fmt.Errorf("discovery document %s: jwks_uri %q is not an absolute http(s) URL", u, doc.JWKSURI)
	}
	// Keys over plain http from an https issuer would let anyone on the
	// path replace them.
	if iss.Scheme == "https" && jwks.Scheme != "https" {
		return "", fmt.Errorf("discovery document %s: jwks_uri %q is not https", u, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// fetch gets the JWKS, revalidating prev (nil on the first fetch).
func (r *RemoteKeySet) fetch(ctx context.Context, prev *keySet) (*keySet, error) {
	var etag string
	if prev != nil {
		etag = prev.etag
	}
	h, body, notModified, err := r.get(ctx, r.jwksURI, etag)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", r.jwksURI, err)
	}
	now := r.now()
	if notModified {
		// RFC 9111 section 4.3.4: the 304's Cache-Control replaces the
		// stored one; without one, the keys get the lifetime they had.
		life := r.lifetime(h, prev.lifetime)
		return &keySet{keys: prev.keys, etag: prev.etag, lifetime: life, expires: now.Add(life)}, nil
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", r.jwksURI, err)
	}
	life := r.lifetime(h, r.minAge)
	return &keySet{keys: keys, etag: h.Get("ETag"), lifetime: life, expires: now.Add(life)}, nil
}

// get fetches u, conditionally on etag when it is set. It returns the
// headers and the body of a 200, or notModified for a 304.
func (r *RemoteKeySet) get(ctx context.Context, u, etag string) (h http.Header, body []byte, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return resp.Header, nil, true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, nil, false, fmt.Errorf("status %s", resp.Status)
	case resp.ContentLength > maxResponseBytes:
		return nil, nil, false, fmt.Errorf("response of %d bytes exceeds %d", resp.ContentLength, maxResponseBytes)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, nil, false, fmt.Errorf("read response: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, nil, false, fmt.Errorf("response exceeds %d bytes", maxResponseBytes)
	}
	return resp.Header, body, false, nil
}

// lifetime is how long a response stays fresh (RFC 9111 section 4.2): its
// max-age (zero for no-cache or no-store, fallback without either) less
// its Age, clamped to the configured range.
func (r *RemoteKeySet) lifetime(h http.Header, fallback time.Duration) time.Duration {
	life := fallback
	if d, ok := maxAge(h.Values("Cache-Control")); ok {
		life = d
	}
	// As for max-age, an Age too large for 31 bits means 2^31-1 seconds:
	// stale, whatever the clamp below then makes of it.
	if age, err := strconv.ParseUint(h.Get("Age"), 10, 31); err == nil || errors.Is(err, strconv.ErrRange) {
		life -= time.Duration(age) * time.Second
	}
	return min(max(life, r.minAge), r.maxAge)
}

// maxAge reads the freshness a Cache-Control allows a private cache.
// s-maxage is for shared caches and is ignored.
func maxAge(lines []string) (time.Duration, bool) {
	var (
		d     time.Duration
		found bool
	)
	for _, line := range lines {
		for dir := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				// RFC 9111 section 1.2.2: a value too large for 31 bits
				// means 2^31-1 seconds, which ParseUint returns with
				// ErrRange.
				secs, err := strconv.ParseUint(strings.Trim(val, `"`), 10, 31)
				if (err == nil || errors.Is(err, strconv.ErrRange)) && !found {
					d, found = time.Duration(secs)*time.Second, true
				}
			}
		}
	}
	return d, found
}

// jwk holds the members of a JSON Web Key that decide whether and how we
// use it. x5c, x5u and jku are deliberately absent: a key is its n and e.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	N      string   `json:"n"`
	E      string   `json:"e"`
}

// parseJWKS returns the usable keys of a JWK Set by kid; a kid seen twice
// keeps its first key. A set without any is an error, so that a broken
// JWKS never replaces working keys.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		// Raw, so that one key of an unexpected shape is skipped rather
		// than failing the set.
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			continue
		}
		if pub := k.verificationKey(); pub != nil {
			keys[k.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA signature key with a kid")
	}
	return keys, nil
}

// verificationKey returns k as an RSA signature-verification key, or nil
// if it is something else. Its alg, when present, need only be one
// [Verifier] accepts: authd publishes alg RS256 on the keys it also signs
// PS256 tokens with.
func (k *jwk) verificationKey() *rsa.PublicKey {
	if k.Kty != "RSA" || k.Kid == "" ||
		(k.Use != "" && k.Use != "sig") ||
		(k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify")) ||
		(k.Alg != "" && k.Alg != "RS256" && k.Alg != "PS256") {
		return nil
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil {
		return nil
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil {
		return nil
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
	// crypto/rsa accepts exponents up to 2^31-1; an even one is no RSA key.
	exp := new(big.Int).SetBytes(e)
	if pub.N.BitLen() < minRSABits || exp.BitLen() > 31 || exp.Int64() < 3 || exp.Bit(0) == 0 {
		return nil
	}
	pub.E = int(exp.Int64())
	return pub
}
