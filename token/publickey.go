package token

import (
	"net/http"
	"strings"
)

// PublicKeyPEM serves GET /api/v1/auth/public-key as the PEM text of the
// active key, what the seed's clients expect from that path; a client that
// asks for JSON gets the RPC's JSON from jsonHandler instead.
func PublicKeyPEM(keys publicKeys, jsonHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			jsonHandler.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		pem, kid, err := keys.PublicKeyPEM()
		if err != nil {
			http.Error(w, "no signing key", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Key-Id", kid)
		if r.Method == http.MethodGet {
			_, _ = w.Write(pem)
		}
	})
}
