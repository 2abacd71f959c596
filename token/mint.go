package token

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/authd/authd/internal/random"
	"github.com/authd/authd/keystore"
	"github.com/authd/authd/token/verifier"
)

// signingKeys is what minting needs from the keystore.
type signingKeys interface {
	Signing() (*keystore.Key, error)
}

// Minter signs access and ID tokens with the keystore's active key.
type Minter struct {
	issuer string
	keys   signingKeys
	now    func() time.Time
	rand   io.Reader

	mu      sync.Mutex
	signers map[signerKey]jose.Signer // built once per key: NewSigner is not free
}

type signerKey struct {
	kid string
	typ string
	alg jose.SignatureAlgorithm
}

// NewMinter returns a Minter for issuer. now and r may be nil for the clock
// and crypto/rand.
func NewMinter(issuer string, keys signingKeys, now func() time.Time, r io.Reader) *Minter {
	if now == nil {
		now = time.Now
	}
	return &Minter{issuer: issuer, keys: keys, now: now, rand: r, signers: map[signerKey]jose.Signer{}}
}

func (m *Minter) signer(k *keystore.Key, typ, alg string) (jose.Signer, error) {
	a := jose.RS256
	if alg == string(jose.PS256) {
		a = jose.PS256
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sk := signerKey{kid: k.ID, typ: typ, alg: a}
	if s, ok := m.signers[sk]; ok {
		return s, nil
	}
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: a, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return nil, fmt.Errorf("build signer for key %s: %w", k.ID, err)
	}
	if len(m.signers) > 16 {
		// Keys rotate; forget signers of keys that no longer sign.
		clear(m.signers)
	}
	m.signers[sk] = s
	return s, nil
}

// AccessClaims is the content of an access token.
type AccessClaims struct {
	Subject   string
	Audience  []string
	ClientID  string
	Scope     string
	SessionID string
	AMR       []string
	AuthTime  time.Time
	TTL       time.Duration
	// Alg is RS256 (default) or PS256.
	Alg string
}

// MintAccessToken signs an RFC 9068 access token and returns it with its
// expiry.
func (m *Minter) MintAccessToken(c AccessClaims) (string, time.Time, error) {
	key, err := m.keys.Signing()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing key: %w", err)
	}
	jti, err := random.Token(m.rand, 16)
	if err != nil {
		return "", time.Time{}, err
	}
	now := m.now().Truncate(time.Second)
	exp := now.Add(c.TTL)
	claims := verifier.Claims{
		Issuer:    m.issuer,
		Subject:   c.Subject,
		Audience:  jwt.Audience(c.Audience),
		Expiry:    jwt.NewNumericDate(exp),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        jti,
		ClientID:  c.ClientID,
		Scope:     c.Scope,
		SessionID: c.SessionID,
		AMR:       c.AMR,
		AuthTime:  jwt.NewNumericDate(c.AuthTime),
	}
	s, err := m.signer(key, verifier.AccessTokenType, c.Alg)
	if err != nil {
		return "", time.Time{}, err
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return tok, exp, nil
}

// IDClaims is the content of an OIDC ID token (OpenID Connect Core 2 and
// 5.1); profile claims are set by the caller according to scope.
type IDClaims struct {
	Issuer              string           `json:"iss"`
	Subject             string           `json:"sub"`
	Audience            jwt.Audience     `json:"aud"`
	Expiry              *jwt.NumericDate `json:"exp"`
	IssuedAt            *jwt.NumericDate `json:"iat"`
	AuthTime            *jwt.NumericDate `json:"auth_time,omitempty"`
	AMR                 []string         `json:"amr,omitempty"`
	SessionID           string           `json:"sid,omitempty"`
	AuthorizedParty     string           `json:"azp,omitempty"`
	Email               string           `json:"email,omitempty"`
	EmailVerified       *bool            `json:"email_verified,omitempty"`
	PhoneNumber         string           `json:"phone_number,omitempty"`
	PhoneNumberVerified *bool            `json:"phone_number_verified,omitempty"`
	Name                string           `json:"name,omitempty"`
}

// MintIDToken signs c with alg (RS256 or PS256), filling issuer and times.
func (m *Minter) MintIDToken(c IDClaims, ttl time.Duration, alg string) (string, error) {
	key, err := m.keys.Signing()
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	now := m.now().Truncate(time.Second)
	c.Issuer = m.issuer
	c.IssuedAt = jwt.NewNumericDate(now)
	c.Expiry = jwt.NewNumericDate(now.Add(ttl))
	s, err := m.signer(key, "JWT", alg)
	if err != nil {
		return "", err
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return tok, nil
}
