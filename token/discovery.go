package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Discovery serves OpenID Connect Discovery 1.0 metadata, which is also the
// RFC 8414 authorization server metadata: mount it at both
// /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server. The document only changes with
// configuration, so its bytes and ETag are built once.
type Discovery struct {
	body []byte
	etag string
}

// NewDiscovery builds the document for issuer.
func NewDiscovery(issuer string, grantTypes []string) (*Discovery, error) {
	base := strings.TrimSuffix(issuer, "/")
	doc := map[string]any{
		"issuer":                                        issuer,
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"token_endpoint":                                base + "/token",
		"userinfo_endpoint":                             base + "/userinfo",
		"revocation_endpoint":                           base + "/revoke",
		"introspection_endpoint":                        base + "/introspect",
		"grant_types_supported":                         grantTypes,
		"response_types_supported":                      []string{"token"},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{"RS256", "PS256"},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                              supportedScopes,
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "sid",
			"email", "email_verified", "phone_number", "phone_number_verified", "name"},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode discovery document: %w", err)
	}
	sum := sha256.Sum256(body)
	return &Discovery{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`}, nil
}

func (d *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", d.etag)
	if r.Header.Get("If-None-Match") == d.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodGet {
		_, _ = w.Write(d.body)
	}
}
