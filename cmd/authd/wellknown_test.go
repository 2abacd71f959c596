package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestDiscoveryAndJWKS(t *testing.T) {
	s := startServer(t, map[string]string{"JWT_ISSUER": "https://auth.example.com"})
	r := s.do(http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("discovery: %d", r.Status)
	}
	d := r.JSON(t)
	if d["issuer"] != "https://auth.example.com" || d["jwks_uri"] != "https://auth.example.com/.well-known/jwks.json" ||
		d["token_endpoint"] != "https://auth.example.com/token" {
		t.Fatalf("discovery: %s", r.Body)
	}
	for _, k := range []string{"userinfo_endpoint", "revocation_endpoint", "introspection_endpoint", "grant_types_supported",
		"id_token_signing_alg_values_supported", "scopes_supported", "claims_supported"} {
		if _, ok := d[k]; !ok {
			t.Errorf("discovery lacks %s", k)
		}
	}

	r = s.do(http.MethodGet, "/.well-known/jwks.json", "", nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Cache-Control"), "max-age=") || r.Header.Get("ETag") == "" {
		t.Fatalf("jwks: %d %v", r.Status, r.Header)
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(r.Body), private+":") {
			t.Fatalf("JWKS exposes private member %s", private)
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatal(err)
	}
	etag := r.Header.Get("ETag")
	if r := s.do(http.MethodGet, "/.well-known/jwks.json", "", nil, map[string]string{"If-None-Match": etag}); r.Status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.Status)
	}

	// A token verifies offline against the JWKS, as a gateway would.
	tok := str(t, s.postForm("/token", adminPassword()).JSON(t), "access_token")
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", parsed.Headers[0].KeyID)
	}
	var c jwt.Claims
	if err := parsed.Claims(keys[0].Key, &c); err != nil || c.Issuer != "https://auth.example.com" {
		t.Fatalf("verify against JWKS: %v %v", err, c)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		for _, p := range []string{"/health", "/ready", "/metrics"} {
			if r := s.do(http.MethodGet, p, "", nil, nil); r.Status != http.StatusOK {
				t.Errorf("%s: %d", p, r.Status)
			}
		}
		s.postForm("/token", adminPassword())
		if r := s.do(http.MethodGet, "/metrics", "", nil, nil); !strings.Contains(string(r.Body), `authd_http_requests_total{code="200",handler="token"}`) {
			t.Errorf("metrics lack the token request:\n%.2000s", r.Body)
		}
	})
}

// TestOutboxOnlyInDevelopment: the outbox shows codes, so staging and
// production never serve it.
func TestOutboxOnlyInDevelopment(t *testing.T) {
	dev := startServer(t, nil)
	if r := dev.do(http.MethodGet, "/debug/outbox", "", nil, nil); r.Status != http.StatusOK {
		t.Fatalf("development outbox: %d", r.Status)
	}
	env := backends[1].env(t)
	env["APP_ENVIRONMENT"] = "staging"
	env["APP_SECRET"] = "0123456789abcdef0123456789abcdef-staging"
	env["KEYS_ENCRYPTION_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	staging := startServer(t, env)
	if r := staging.do(http.MethodGet, "/debug/outbox", "", nil, nil); r.Status != http.StatusNotFound {
		t.Fatalf("staging outbox: %d", r.Status)
	}
	// No development users outside development.
	if r := staging.postForm("/token", adminPassword()); r.Status != http.StatusBadRequest {
		t.Fatalf("seed admin in staging: %d %s", r.Status, r.Body)
	}
}
