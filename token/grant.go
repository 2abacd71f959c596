package token

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
)

// Grant is one way of obtaining tokens (a grant_type). The shared phases,
// parsing, client authentication, the client's permission for the grant and
// scope validation, happen before Exchange, so no grant can skip them.
type Grant interface {
	Type() string
	Exchange(ctx context.Context, r *Request) (*Result, error)
}

// Request is a validated token request.
type Request struct {
	Client *Client
	// Params holds the grant's parameters, each present at most once.
	Params url.Values
	// Scope was validated against what authd supports; nil when the request
	// named none (each grant decides what that means).
	Scope []string
	Meta  RequestMeta
}

// RequestMeta describes the caller, for sessions and audit.
type RequestMeta struct {
	UserAgent string
	IP        string
}

// Result is what a grant produced: tokens, or a challenge for a second
// factor.
type Result struct {
	Tokens *Tokens
	MFA    *MFAChallenge
}

// Tokens is a successful token response.
type Tokens struct {
	AccessToken  string
	ExpiresIn    int32
	RefreshToken string
	Scope        string
	IDToken      string
	UserID       string
}

// MFAChallenge asks for a second factor.
type MFAChallenge struct {
	Token     string
	Factors   []string
	ExpiresIn int32
}

// Exchanger runs grants after the shared phases; /token and the Connect
// RPCs both come through it, so there is exactly one place where each way
// of logging in happens.
type Exchanger struct {
	grants  map[string]Grant
	clients *Clients
	log     *slog.Logger
}

// NewExchanger registers grants.
func NewExchanger(clients *Clients, log *slog.Logger, grants ...Grant) *Exchanger {
	x := &Exchanger{grants: map[string]Grant{}, clients: clients, log: log}
	for _, g := range grants {
		x.grants[g.Type()] = g
	}
	return x
}

// GrantTypes lists the registered grant types, for discovery.
func (x *Exchanger) GrantTypes() []string {
	out := make([]string, 0, len(x.grants))
	for _, t := range []string{GrantPassword, GrantRefreshToken, GrantOTP, GrantMFAOTP} {
		if _, ok := x.grants[t]; ok {
			out = append(out, t)
		}
	}
	return out
}

// Exchange runs the grant named grantType for an authenticated client.
func (x *Exchanger) Exchange(ctx context.Context, client *Client, grantType string, params url.Values, meta RequestMeta) (*Result, error) {
	g, ok := x.grants[grantType]
	if !ok {
		return nil, errUnsupportedGrant
	}
	if !client.Allows(grantType) {
		return nil, errUnauthorizedClient
	}
	var scope []string
	if raw := params.Get("scope"); strings.TrimSpace(raw) != "" {
		s, err := resolveScope(client, raw)
		if err != nil {
			return nil, err
		}
		scope = s
	}
	res, err := g.Exchange(ctx, &Request{Client: client, Params: params, Scope: scope, Meta: meta})
	if err != nil {
		e := asError(err)
		if e.Status >= 500 {
			x.log.ErrorContext(ctx, "token exchange failed", "grant_type", grantType, "client_id", client.ID, "err", err)
		} else {
			x.log.DebugContext(ctx, "token exchange refused", "grant_type", grantType, "client_id", client.ID, "reason", e.Reason)
		}
		return nil, e
	}
	return res, nil
}
