package token_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/authd/authd/challenge"
	"github.com/authd/authd/identity"
	"github.com/authd/authd/keystore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// stack is the token path on the in-memory stores.
type stack struct {
	minter   *token.Minter
	x        *token.Exchanger
	clients  *token.Clients
	sessions *session.Manager
}

func newStack(tb testing.TB) *stack {
	tb.Helper()
	ctx := context.Background()
	var kek keystore.KEK
	copy(kek[:], "0123456789abcdef0123456789abcdef")
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := keystore.NewManager(keystore.NewMemoryStore(), kek, keystore.WithLogger(discard))
	if err := keys.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	sessions, err := session.NewManager(session.NewMemoryStore(), []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := identity.NewHasher(identity.HashParams{Memory: 64, Iterations: 1, Parallelism: 1}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	users := identity.NewService(identity.NewMemoryStore(), hasher, identity.Policy{})
	minter := token.NewMinter("https://id.example.com", keys, nil, nil)
	issuer := token.NewIssuer(sessions, minter, 15*time.Minute)
	clients := token.NewClients([]string{"https://api.example.com"})
	limiter, err := challenge.NewLimiter(challenge.NewLimitMemoryStore(), challenge.DefaultLimitPolicy())
	if err != nil {
		tb.Fatal(err)
	}
	x := token.NewExchanger(clients, discard, token.NewRefreshGrant(sessions, issuer, users, token.NewGuard(limiter)))
	return &stack{minter: minter, x: x, clients: clients, sessions: sessions}
}

// BenchmarkMintAccessToken is one RS256 access token: claims, JSON, sign.
func BenchmarkMintAccessToken(b *testing.B) {
	s := newStack(b)
	c := token.AccessClaims{
		Subject: "6f1c1d2e-7a9b-4c3d-8e5f-0a1b2c3d4e5f", Audience: []string{"https://api.example.com"},
		ClientID: "authd", Scope: "email profile", SessionID: "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
		AMR: []string{"pwd"}, AuthTime: time.Now(), TTL: 15 * time.Minute,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.minter.MintAccessToken(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefreshGrant is the whole refresh_token grant on memory stores:
// rotation plus one signature, through the same Exchanger /token uses.
func BenchmarkRefreshGrant(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	_, tok, err := s.sessions.Start(ctx, session.Params{UserID: "u1", ClientID: token.DefaultClientID, Scope: "email", AMR: []string{"pwd"}, AuthTime: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	client := s.clients.Default()
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.x.Exchange(ctx, client, token.GrantRefreshToken, url.Values{"refresh_token": {tok}}, token.RequestMeta{})
		if err != nil {
			b.Fatal(err)
		}
		tok = res.Tokens.RefreshToken
	}
}
