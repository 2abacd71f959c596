package token

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grant type identifiers (RFC 6749 and authd's extension grants).
const (
	GrantPassword     = "password"
	GrantRefreshToken = "refresh_token"
	GrantOTP          = "urn:authd:params:oauth:grant-type:otp"
	GrantMFAOTP       = "urn:authd:params:oauth:grant-type:mfa-otp"
)

// Scopes authd understands. Anything else is invalid_scope.
var supportedScopes = []string{"openid", "profile", "email", "phone", "offline_access"}

// Client is a registered OAuth2 client.
type Client struct {
	ID string
	// SecretHash is SHA-256 of the secret for confidential clients; empty for
	// public ones. A client secret is a high-entropy random string, so a
	// fast hash is enough: there is nothing to brute-force.
	SecretHash []byte
	// Grants the client may use.
	Grants []string
	// Audience of its access tokens.
	Audience []string
	// DefaultScope is granted when a request names none.
	DefaultScope []string
	// Lifetimes; zero means the server default.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// SigningAlg of its tokens: RS256 (default) or PS256, on the same RSA
	// keys.
	SigningAlg string
}

// Public reports whether the client has no secret.
func (c *Client) Public() bool { return len(c.SecretHash) == 0 }

// Allows reports whether the client may use grant.
func (c *Client) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// checkSecret compares in constant time.
func (c *Client) checkSecret(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.SecretHash) == 1
}

// Clients is the registry. The default client serves requests that name no
// client, so the seed's REST calls work unchanged.
type Clients struct {
	byID          map[string]*Client
	defaultClient *Client
}

// DefaultClientID names the first-party client used when a request names none.
const DefaultClientID = "authd"

// ParseSecretHash reads a client secret hash from configuration: the hex
// SHA-256 of the secret, optionally prefixed "sha256:".
func ParseSecretHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "sha256:"))
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New(`want the hex SHA-256 of the secret, e.g. "sha256:" + $(printf %s "$SECRET" | sha256sum)`)
	}
	return b, nil
}

// Validate checks a client from configuration.
func (c *Client) Validate() error {
	if c.ID == "" {
		return errors.New("id is required")
	}
	for _, g := range c.Grants {
		if !slices.Contains([]string{GrantPassword, GrantRefreshToken, GrantOTP, GrantMFAOTP}, g) {
			return fmt.Errorf("unknown grant %q", g)
		}
	}
	for _, s := range c.DefaultScope {
		if !slices.Contains(supportedScopes, s) {
			return fmt.Errorf("unknown scope %q", s)
		}
	}
	switch c.SigningAlg {
	case "", "RS256", "PS256":
	default:
		return fmt.Errorf("signing_alg %q is not RS256 or PS256", c.SigningAlg)
	}
	if len(c.Grants) == 0 {
		return errors.New("grants is required: name every grant the client may use")
	}
	return nil
}

// NewClients builds the registry. A client with DefaultClientID in clients
// replaces the built-in default.
func NewClients(defaultAudience []string, clients ...*Client) *Clients {
	r := &Clients{byID: map[string]*Client{}}
	r.defaultClient = &Client{
		ID:           DefaultClientID,
		Grants:       []string{GrantPassword, GrantRefreshToken, GrantOTP, GrantMFAOTP},
		Audience:     defaultAudience,
		DefaultScope: []string{"profile", "email", "phone"},
	}
	r.byID[DefaultClientID] = r.defaultClient
	for _, c := range clients {
		r.byID[c.ID] = c
		if c.ID == DefaultClientID {
			r.defaultClient = c
		}
	}
	return r
}

// Default returns the client of requests that name none.
func (r *Clients) Default() *Client { return r.defaultClient }

// Get returns the client with id.
func (r *Clients) Get(id string) (*Client, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// resolveScope validates a requested scope string against what authd
// supports. An empty request gets the client's default scope.
func resolveScope(c *Client, requested string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return slices.Clone(c.DefaultScope), nil
	}
	out := make([]string, 0, len(fields))
	for _, s := range fields {
		if !slices.Contains(supportedScopes, s) {
			return nil, errInvalidScope.withDescription("unknown scope " + quoteParam(s))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// quoteParam quotes client input for an error description, bounded so a
// huge parameter is not echoed back.
func quoteParam(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
