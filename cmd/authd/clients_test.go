package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	apiSecret    = "resource-server-secret-0123456789"
	mobileSecret = "mobile-backend-secret-0123456789"
)

func secretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// withClients adds a client registry to env: a confidential resource server
// that may only introspect, a confidential first-party backend signing
// PS256, and a public app without the password grant.
func withClients(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	cfg := `clients:
  - id: api
    secret_hash: "` + secretHash(apiSecret) + `"
    grants: [refresh_token]
    audience: [https://api.example.com]
  - id: backend
    secret_hash: "` + secretHash(mobileSecret) + `"
    grants: [password, refresh_token]
    audience: [https://backend.example.com]
    signing_alg: PS256
  - id: spa
    grants: [urn:authd:params:oauth:grant-type:otp, refresh_token]
    audience: [https://spa.example.com]
`
	p := filepath.Join(t.TempDir(), "authd.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = map[string]string{}
	}
	env["AUTHD_CONFIG"] = p
	return env
}

func basicAuth(id, secret string) map[string]string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func (s *server) form(path string, form url.Values, header map[string]string) response {
	s.t.Helper()
	return s.do(http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header)
}

func TestConfidentialClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, withClients(t, env))
		login := url.Values{"grant_type": {"password"}, "username": {"admin@auth1.dev"}, "password": {"admin123"}}

		// client_secret_basic and client_secret_post both authenticate.
		r := s.form("/token", login, basicAuth("backend", mobileSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("basic: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		h, c := jwtParts(t, str(t, m, "access_token"))
		if h["alg"] != "PS256" || c["client_id"] != "backend" || c["aud"] != "https://backend.example.com" {
			t.Fatalf("backend token header %v claims %v", h, c)
		}
		post := url.Values{"client_id": {"backend"}, "client_secret": {mobileSecret}}
		for k, v := range login {
			post[k] = v
		}
		if r := s.form("/token", post, nil); r.Status != http.StatusOK {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}

		// Authentication failures are invalid_client; Basic gets a challenge.
		r = s.form("/token", login, basicAuth("backend", "wrong"))
		if r.Status != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("wrong secret: %d %v %s", r.Status, r.Header, r.Body)
		}
		noSecret := url.Values{"client_id": {"backend"}}
		for k, v := range login {
			noSecret[k] = v
		}
		if r := s.form("/token", noSecret, nil); r.Status != http.StatusUnauthorized || r.JSON(t)["error"] != "invalid_client" {
			t.Fatalf("confidential client without secret: %d %s", r.Status, r.Body)
		}
		// A client not allowed the password grant.
		spa := url.Values{"client_id": {"spa"}}
		for k, v := range login {
			spa[k] = v
		}
		if r := s.form("/token", spa, nil); r.JSON(t)["error"] != "unauthorized_client" {
			t.Fatalf("password grant for spa: %d %s", r.Status, r.Body)
		}

		// A refresh token is bound to its client: another client neither
		// uses nor burns it.
		refresh := str(t, m, "refresh_token")
		r = s.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, basicAuth("api", apiSecret))
		if r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("refresh by another client: %d %s", r.Status, r.Body)
		}
		r = s.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, basicAuth("backend", mobileSecret))
		if r.Status != http.StatusOK {
			t.Fatalf("refresh by its own client afterwards: %d %s", r.Status, r.Body)
		}
	})
}

func TestIntrospectAndRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, withClients(t, env))
		r := s.postForm("/token", adminPassword())
		m := r.JSON(t)
		access, refresh := str(t, m, "access_token"), str(t, m, "refresh_token")
		introspect := func(tok string, header map[string]string) (int, map[string]any) {
			r := s.form("/introspect", url.Values{"token": {tok}}, header)
			if r.Status != http.StatusOK {
				return r.Status, nil
			}
			return r.Status, r.JSON(t)
		}
		api := basicAuth("api", apiSecret)

		// Only an authenticated confidential client may introspect.
		if st, _ := introspect(access, nil); st != http.StatusUnauthorized {
			t.Fatalf("introspect without client: %d", st)
		}
		if st, _ := introspect(access, basicAuth("api", "wrong")); st != http.StatusUnauthorized {
			t.Fatalf("introspect with a wrong secret: %d", st)
		}

		_, a := introspect(access, api)
		if a["active"] != true || a["client_id"] != "authd" || a["token_type"] != "Bearer" || a["sub"] == "" || a["exp"] == nil {
			t.Fatalf("access token: %v", a)
		}
		_, rt := introspect(refresh, api)
		if rt["active"] != true || rt["client_id"] != "authd" || rt["sid"] != a["sid"] {
			t.Fatalf("refresh token: %v", rt)
		}
		for _, junk := range []string{"nope", "a.b.c", strings.Repeat("x", 600)} {
			if _, j := introspect(junk, api); len(j) != 1 || j["active"] != false {
				t.Fatalf("junk %q: %v", junk[:min(len(junk), 10)], j)
			}
		}

		// Rotation makes the old refresh token inactive.
		next := str(t, s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}).JSON(t), "refresh_token")
		if _, o := introspect(refresh, api); len(o) != 1 || o["active"] != false {
			t.Fatalf("rotated refresh token: %v", o)
		}

		// Revocation (RFC 7009): unknown tokens answer 200; another
		// client's token is left alone; the owner's revokes the session.
		if r := s.form("/revoke", url.Values{"token": {"never-issued"}}, nil); r.Status != http.StatusOK {
			t.Fatalf("revoke unknown: %d %s", r.Status, r.Body)
		}
		if r := s.form("/revoke", url.Values{"token": {next}}, api); r.Status != http.StatusOK {
			t.Fatalf("revoke by another client: %d", r.Status)
		}
		if _, still := introspect(next, api); still["active"] != true {
			t.Fatalf("another client's revocation took effect: %v", still)
		}
		if r := s.form("/revoke", url.Values{"token": {next}, "token_type_hint": {"refresh_token"}}, nil); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		for name, tok := range map[string]string{"refresh": next, "access": access} {
			if _, o := introspect(tok, api); len(o) != 1 || o["active"] != false {
				t.Fatalf("%s token after revocation: %v", name, o)
			}
		}
		if r := s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next}}); r.Status != http.StatusBadRequest {
			t.Fatalf("refresh after revocation: %d %s", r.Status, r.Body)
		}
	})
}

func TestAuthorizationServerMetadata(t *testing.T) {
	s := startServer(t, nil)
	a := s.do(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, nil)
	b := s.do(http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	if a.Status != http.StatusOK || string(a.Body) != string(b.Body) {
		t.Fatalf("RFC 8414 metadata: %d %s", a.Status, a.Body)
	}
	m := a.JSON(t)
	grants, _ := m["grant_types_supported"].([]any)
	if len(grants) != 4 {
		t.Fatalf("grant types %v", grants)
	}
	for _, g := range grants {
		// Every advertised grant is at least recognised (it answers
		// invalid_request for missing parameters, not unsupported_grant_type).
		r := s.postForm("/token", url.Values{"grant_type": {g.(string)}})
		if e := r.JSON(t)["error"]; e == "unsupported_grant_type" {
			t.Errorf("advertised grant %s is unsupported", g)
		}
	}
}

func TestSessionService(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		var tokens []map[string]any
		for range 3 {
			tokens = append(tokens, s.postForm("/token", adminPassword()).JSON(t))
		}
		me := bearer(str(t, tokens[0], "access_token"))
		r := s.do(http.MethodGet, "/api/v1/auth/sessions", "", nil, me)
		list, _ := r.JSON(t)["sessions"].([]any)
		if r.Status != http.StatusOK || len(list) != 3 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		current := 0
		for _, x := range list {
			if x.(map[string]any)["current"] == true {
				current++
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current", current)
		}
		r = s.postJSON("/api/v1/auth/sessions/revoke-others", `{}`, me)
		if r.Status != http.StatusOK || r.JSON(t)["revoked"] != float64(2) {
			t.Fatalf("revoke others: %d %s", r.Status, r.Body)
		}
		if r := s.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(t, tokens[1], "refresh_token")}}); r.Status != http.StatusBadRequest {
			t.Fatalf("refresh of a revoked session: %d", r.Status)
		}
		// Another user's session id is answered like a missing one.
		other := bearer(str(t, s.postForm("/token", url.Values{"grant_type": {"password"}, "username": {"user1@auth1.dev"}, "password": {"password123"}}).JSON(t), "access_token"))
		_, c := jwtParts(t, str(t, tokens[0], "access_token"))
		if r := s.do(http.MethodDelete, "/api/v1/auth/sessions/"+c["sid"].(string), "", nil, other); r.Status != http.StatusNotFound {
			t.Fatalf("revoke someone else's session: %d %s", r.Status, r.Body)
		}
		if r := s.do(http.MethodDelete, "/api/v1/auth/sessions/"+c["sid"].(string), "", nil, me); r.Status != http.StatusOK {
			t.Fatalf("revoke own session: %d %s", r.Status, r.Body)
		}
	})
}
