package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
)

// h2cClient speaks HTTP/2 without TLS, as gRPC clients of authd do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

func connectReason(t *testing.T, err error) (connect.Code, string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a connect error: %v", err)
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if info, ok := v.(*errdetails.ErrorInfo); ok {
			return ce.Code(), info.Reason
		}
	}
	return ce.Code(), ""
}

// TestTypedClients drives login → me → refresh → logout with the generated
// Connect client over each protocol authd serves.
func TestTypedClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, env map[string]string) {
		s := startServer(t, env)
		for _, proto := range []struct {
			name   string
			client *http.Client
			opts   []connect.ClientOption
		}{
			{"connect+proto", http.DefaultClient, nil},
			{"connect+json", http.DefaultClient, []connect.ClientOption{connect.WithProtoJSON()}},
			{"grpc", h2cClient(), []connect.ClientOption{connect.WithGRPC()}},
			{"grpc-web", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
		} {
			t.Run(proto.name, func(t *testing.T) {
				ctx := context.Background()
				tokens := authdv1connect.NewTokenServiceClient(proto.client, s.URL, proto.opts...)
				accounts := authdv1connect.NewAccountServiceClient(proto.client, s.URL, proto.opts...)

				_, err := tokens.Login(ctx, connect.NewRequest(&authdv1.LoginRequest{Email: "admin@auth1.dev", Password: "wrong"}))
				if code, reason := connectReason(t, err); code != connect.CodeUnauthenticated || reason != "INVALID_CREDENTIALS" {
					t.Fatalf("wrong password: %v %s", code, reason)
				}

				login, err := tokens.Login(ctx, connect.NewRequest(&authdv1.LoginRequest{Email: "admin@auth1.dev", Password: "admin123"}))
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				tok := login.Msg.GetTokens()
				if tok == nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
					t.Fatalf("login answer %v", login.Msg)
				}

				_, err = accounts.GetMe(ctx, connect.NewRequest(&authdv1.GetMeRequest{}))
				if code, reason := connectReason(t, err); code != connect.CodeUnauthenticated || reason != "INVALID_TOKEN" {
					t.Fatalf("me without token: %v %s", code, reason)
				}
				req := connect.NewRequest(&authdv1.GetMeRequest{})
				req.Header().Set("Authorization", "Bearer "+tok.AccessToken)
				me, err := accounts.GetMe(ctx, req)
				if err != nil || me.Msg.User.Email != "admin@auth1.dev" || !me.Msg.User.EmailVerified {
					t.Fatalf("me: %v %v", me, err)
				}

				ref, err := tokens.Refresh(ctx, connect.NewRequest(&authdv1.RefreshRequest{RefreshToken: tok.RefreshToken}))
				if err != nil || ref.Msg.Tokens.RefreshToken == tok.RefreshToken {
					t.Fatalf("refresh: %v %v", ref, err)
				}
				if _, err := tokens.Logout(ctx, connect.NewRequest(&authdv1.LogoutRequest{RefreshToken: ref.Msg.Tokens.RefreshToken})); err != nil {
					t.Fatalf("logout: %v", err)
				}
				_, err = tokens.Refresh(ctx, connect.NewRequest(&authdv1.RefreshRequest{RefreshToken: ref.Msg.Tokens.RefreshToken}))
				if code, _ := connectReason(t, err); code != connect.CodeUnauthenticated {
					t.Fatalf("refresh after logout: %v", err)
				}

				pk, err := tokens.GetPublicKey(ctx, connect.NewRequest(&authdv1.GetPublicKeyRequest{}))
				if err != nil || !strings.HasPrefix(pk.Msg.PublicKeyPem, "-----BEGIN PUBLIC KEY-----") || pk.Msg.Kid == "" {
					t.Fatalf("public key: %v %v", pk, err)
				}
			})
		}
	})
}

// TestConnectJSONOverHTTP is what a browser using connect-web sends.
func TestConnectJSONOverHTTP(t *testing.T) {
	s := startServer(t, nil)
	r := s.postJSON("/authd.v1.TokenService/Login", `{"email":"admin@auth1.dev","password":"admin123"}`, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	access := str(t, r.JSON(t), "tokens.accessToken")
	r = s.postJSON("/authd.v1.AccountService/GetMe", `{}`, bearer(access))
	if r.Status != http.StatusOK || str(t, r.JSON(t), "user.email") != "admin@auth1.dev" {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	r = s.postJSON("/authd.v1.TokenService/Login", `{"email":"admin@auth1.dev","password":"admin123","bogus":1}`, nil)
	if r.Status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d %s", r.Status, r.Body)
	}
	r = s.postJSON("/authd.v1.TokenService/Login", `{"email":"admin@auth1.dev","password":"nope1234"}`, nil)
	if r.Status != http.StatusUnauthorized || reasonOf(t, r.Body) != "INVALID_CREDENTIALS" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
}

// TestBearerRejections: every kind of bad token gets 401 with
// WWW-Authenticate, on the RPC, REST and /userinfo.
func TestBearerRejections(t *testing.T) {
	s := startServer(t, nil)
	r := s.postForm("/token", adminPassword())
	m := r.JSON(t)
	good := str(t, m, "access_token")
	header, _ := jwtParts(t, good)
	kid := header["kid"].(string)
	_, claims := jwtParts(t, good)

	pemResp := s.do(http.MethodGet, "/api/v1/auth/public-key", "", nil, nil)
	if pemResp.Status != http.StatusOK || !strings.Contains(string(pemResp.Body), "BEGIN PUBLIC KEY") {
		t.Fatalf("public key PEM: %d %s", pemResp.Status, pemResp.Body)
	}

	sign := func(alg jose.SignatureAlgorithm, key any, hdr map[jose.HeaderKey]any) string {
		opts := &jose.SignerOptions{ExtraHeaders: hdr}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(sig).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload := strings.Split(good, ".")[1]
	noneTok := b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`)) + "." + payload + "."
	// HS256 keyed with the public key: the classic algorithm confusion.
	hsHeader := b64([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"` + kid + `"}`))
	mac := hmac.New(sha256.New, pemResp.Body)
	mac.Write([]byte(hsHeader + "." + payload))
	hsTok := hsHeader + "." + payload + "." + b64(mac.Sum(nil))
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64([]byte(strings.Replace(string(mustB64(t, parts[1])), `"sub":"`, `"sub":"x`, 1))) + "." + parts[2]

	for name, tok := range map[string]string{
		"missing":     "",
		"garbage":     "not.a.jwt",
		"alg none":    noneTok,
		"HS256 w/ pk": hsTok,
		"unknown kid": sign(jose.RS256, jose.JSONWebKey{Key: other, KeyID: "unknown"}, map[jose.HeaderKey]any{"typ": "at+jwt"}),
		"forged kid":  sign(jose.RS256, jose.JSONWebKey{Key: other, KeyID: kid}, map[jose.HeaderKey]any{"typ": "at+jwt"}),
		"tampered":    tampered,
		"id token":    idTokenOf(t, s),
	} {
		t.Run(name, func(t *testing.T) {
			h := map[string]string{}
			if tok != "" {
				h = bearer(tok)
			}
			for _, target := range []struct{ method, path string }{
				{http.MethodGet, "/api/v1/auth/me"},
				{http.MethodGet, "/userinfo"},
				{http.MethodPost, "/authd.v1.AccountService/GetMe"},
			} {
				var r response
				if target.method == http.MethodPost {
					r = s.postJSON(target.path, `{}`, h)
				} else {
					r = s.do(target.method, target.path, "", nil, h)
				}
				if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: %d (WWW-Authenticate %q) %s", target.method, target.path, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			}
		})
	}
	// The good token works on all three.
	if r := s.do(http.MethodGet, "/userinfo", "", nil, bearer(good)); r.Status != http.StatusOK || str(t, r.JSON(t), "email") != "admin@auth1.dev" {
		t.Fatalf("userinfo: %d %s", r.Status, r.Body)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func idTokenOf(t *testing.T, s *server) string {
	t.Helper()
	f := adminPassword()
	f.Set("scope", "openid email")
	return str(t, s.postForm("/token", f).JSON(t), "id_token")
}
