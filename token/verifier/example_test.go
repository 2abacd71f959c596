package verifier_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/token/verifier"
)

// An orders service trusts the access tokens of an authd issuer. It finds
// authd's signing keys through OIDC discovery, verifies tokens offline, and
// puts its API behind the verifier's middleware.
func Example() {
	authd := startFakeAuthd() // in production: https://id.example.com
	defer authd.Close()

	keys, err := verifier.NewRemoteKeySet(context.Background(), authd.URL)
	if err != nil {
		log.Fatal(err)
	}
	v := verifier.New(keys, authd.URL, verifier.WithAudience("orders"))

	// A token can be checked directly...
	claims, err := v.Verify(authd.mint("user-42", "orders"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", claims.Subject, claims.HasScope("orders:read"))

	// ...or by the middleware, which hands the claims to the handler.
	api := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", c.Subject)
	}))
	for _, authorization := range []string{
		"Bearer " + authd.mint("user-42", "orders"),
		"Bearer " + authd.mint("user-42", "billing"), // another service's token
		"", // no token
	} {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// verified: user-42 true
	// 200 orders of user-42
	// 401 {"error":"invalid_token","error_description":"a valid bearer access token is required"}
	// 401 {"error":"invalid_token","error_description":"a valid bearer access token is required"}
}

// fakeAuthd serves what authd publishes for verifiers, and mints access
// tokens as authd would.
type fakeAuthd struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func startFakeAuthd() *fakeAuthd {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	a := &fakeAuthd{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"issuer": a.URL, "jwks_uri": a.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: "key-1", Algorithm: "RS256", Use: "sig"},
		}})
	})
	a.Server = httptest.NewServer(mux)
	return a
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// mint returns an access token for subject, valid for audience.
func (a *fakeAuthd) mint(subject, audience string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: a.key, KeyID: "key-1"}},
		(&jose.SignerOptions{}).WithType(verifier.AccessTokenType))
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(verifier.Claims{
		Issuer: a.URL, Subject: subject, Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		Scope: audience + ":read",
	}).Serialize()
	if err != nil {
		log.Fatal(err)
	}
	return tok
}
