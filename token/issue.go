package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/identity"
	"github.com/authd/authd/session"
)

// sessionStarter opens a refresh-token family.
type sessionStarter interface {
	Start(ctx context.Context, p session.Params) (session.Session, string, error)
}

// Issuer turns an authenticated user into tokens: it opens a session and
// mints the access token (and the ID token when openid was granted). Every
// first-factor grant and VerifySignUp end here.
type Issuer struct {
	sessions  sessionStarter
	minter    *Minter
	accessTTL time.Duration
	now       func() time.Time
}

// NewIssuer returns an Issuer; accessTTL is the default access-token
// lifetime for clients that set none.
func NewIssuer(sessions sessionStarter, minter *Minter, accessTTL time.Duration) *Issuer {
	return &Issuer{sessions: sessions, minter: minter, accessTTL: accessTTL, now: minter.now}
}

func (i *Issuer) ttl(c *Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return i.accessTTL
}

// Login starts a session for u and returns its tokens.
func (i *Issuer) Login(ctx context.Context, c *Client, u identity.User, scope []string, amr []string, meta RequestMeta) (*Tokens, error) {
	if scope == nil {
		scope = slices.Clone(c.DefaultScope)
	}
	scopeStr := strings.Join(scope, " ")
	authTime := i.now()
	s, refresh, err := i.sessions.Start(ctx, session.Params{
		UserID: u.ID, ClientID: c.ID, Scope: scopeStr, AMR: amr, AuthTime: authTime,
		UserAgent: meta.UserAgent, IP: meta.IP, TTL: c.RefreshTokenTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	t, err := i.mint(c, s, refresh, scope)
	if err != nil {
		return nil, err
	}
	if slices.Contains(scope, "openid") {
		if t.IDToken, err = i.idToken(c, s, u, scope); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// mint signs the access token of session s.
func (i *Issuer) mint(c *Client, s session.Session, refresh string, scope []string) (*Tokens, error) {
	ttl := i.ttl(c)
	scopeStr := strings.Join(scope, " ")
	at, _, err := i.minter.MintAccessToken(AccessClaims{
		Subject: s.UserID, Audience: c.Audience, ClientID: c.ID, Scope: scopeStr,
		SessionID: s.ID, AMR: s.AMR, AuthTime: s.AuthTime, TTL: ttl, Alg: c.SigningAlg,
	})
	if err != nil {
		return nil, err
	}
	return &Tokens{
		AccessToken: at, ExpiresIn: int32(ttl / time.Second), RefreshToken: refresh,
		Scope: scopeStr, UserID: s.UserID,
	}, nil
}

func (i *Issuer) idToken(c *Client, s session.Session, u identity.User, scope []string) (string, error) {
	claims := IDClaims{
		Subject: u.ID, Audience: []string{c.ID}, AuthorizedParty: c.ID,
		AMR: s.AMR, SessionID: s.ID,
	}
	claims.AuthTime = jwt.NewNumericDate(s.AuthTime)
	if slices.Contains(scope, "email") && u.Email != "" {
		v := u.EmailVerified()
		claims.Email, claims.EmailVerified = u.Email, &v
	}
	if slices.Contains(scope, "phone") && u.Phone != "" {
		v := u.PhoneVerified()
		claims.PhoneNumber, claims.PhoneNumberVerified = u.Phone, &v
	}
	if slices.Contains(scope, "profile") {
		claims.Name = u.Name
	}
	return i.minter.MintIDToken(claims, i.ttl(c), c.SigningAlg)
}
