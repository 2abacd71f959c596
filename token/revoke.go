package token

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/authd/authd/session"
	"github.com/authd/authd/token/verifier"
)

// sessionInspector finds and ends sessions for /revoke and /introspect.
type sessionInspector interface {
	// Lookup returns the session of any refresh token it ever issued and the
	// token's record; session.ErrInvalidToken for anything else.
	Lookup(ctx context.Context, token string) (session.Session, session.RefreshToken, error)
	Get(ctx context.Context, id string) (session.Session, error)
	RevokeSession(ctx context.Context, id, reason string) error
	// Live reports whether a session can still be refreshed.
	Live(s session.Session) bool
}

// Revocation is POST /revoke (RFC 7009) and Introspection POST /introspect
// (RFC 7662): both parse and authenticate the client like /token.
type Revocation struct {
	e        *Endpoint
	sessions sessionInspector
	bearer   *verifier.Verifier
}

// NewRevocation returns the /revoke and /introspect handlers' state.
func NewRevocation(e *Endpoint, sessions sessionInspector, bearer *verifier.Verifier) *Revocation {
	return &Revocation{e: e, sessions: sessions, bearer: bearer}
}

// request authenticates the client like /token and reads the token.
func (v *Revocation) request(w http.ResponseWriter, r *http.Request) (*Client, string, string, bool) {
	client, params, ok := v.e.clientRequest(w, r)
	if !ok {
		return nil, "", "", false
	}
	tok := params.Get("token")
	if tok == "" {
		writeOAuthError(w, errInvalidRequest.withDescription("token is required"), 0)
		return nil, "", "", false
	}
	return client, tok, params.Get("token_type_hint"), true
}

// Revoke implements RFC 7009. A refresh token revokes its whole session; an
// access token revokes its session too (it stays valid for offline
// verifiers until it expires, minutes at most, but introspection and
// refresh end at once). Unknown tokens, and tokens of other clients, answer
// 200 like revoked ones (section 2.2): the answer tells nothing.
func (v *Revocation) Revoke(w http.ResponseWriter, r *http.Request) {
	client, tok, _, ok := v.request(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sid := ""
	if c, err := v.bearer.Verify(tok); err == nil {
		if c.ClientID == client.ID {
			sid = c.SessionID
		}
	} else if s, _, err := v.sessions.Lookup(ctx, tok); err == nil {
		if s.ClientID == client.ID {
			sid = s.ID
		}
	} else if !errors.Is(err, session.ErrInvalidToken) {
		writeOAuthError(w, asError(err), 0)
		return
	}
	if sid != "" {
		if err := v.sessions.RevokeSession(ctx, sid, "revoked"); err != nil && !errors.Is(err, session.ErrNotFound) {
			writeOAuthError(w, asError(err), 0)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Sid       string   `json:"sid,omitempty"`
}

// Introspect implements RFC 7662 for confidential clients (resource
// servers). Anything not active, revoked, expired, malformed or not ours,
// is {"active": false} and nothing else.
func (v *Revocation) Introspect(w http.ResponseWriter, r *http.Request) {
	client, tok, hint, ok := v.request(w, r)
	if !ok {
		return
	}
	if client.Public() {
		// Section 2.1: the endpoint must be protected; a public client
		// cannot prove who it is.
		writeOAuthError(w, errInvalidClient.withDescription("introspection needs a confidential client"), 0)
		return
	}
	res, err := v.inspect(r.Context(), tok, hint)
	if err != nil {
		writeOAuthError(w, asError(err), 0)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (v *Revocation) inspect(ctx context.Context, tok, hint string) (introspection, error) {
	inactive := introspection{}
	tryAccess := func() (introspection, bool, error) {
		c, err := v.bearer.Verify(tok)
		if err != nil {
			return inactive, false, nil
		}
		s, err := v.sessions.Get(ctx, c.SessionID)
		if errors.Is(err, session.ErrNotFound) {
			return inactive, true, nil
		}
		if err != nil {
			return inactive, true, err
		}
		if !v.sessions.Live(s) {
			return inactive, true, nil
		}
		return introspection{
			Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
			Exp: c.Expiry.Time().Unix(), Iat: c.IssuedAt.Time().Unix(), Sub: c.Subject,
			Aud: c.Audience, Iss: c.Issuer, Jti: c.ID, Sid: c.SessionID,
		}, true, nil
	}
	tryRefresh := func() (introspection, bool, error) {
		s, rec, err := v.sessions.Lookup(ctx, tok)
		if errors.Is(err, session.ErrInvalidToken) {
			return inactive, false, nil
		}
		if err != nil {
			return inactive, true, err
		}
		if !rec.RotatedAt.IsZero() || !v.sessions.Live(s) {
			return inactive, true, nil
		}
		return introspection{
			Active: true, Scope: s.Scope, ClientID: s.ClientID, Exp: s.ExpiresAt.Unix(),
			Iat: rec.CreatedAt.Unix(), Sub: s.UserID, Sid: s.ID,
		}, true, nil
	}
	order := []func() (introspection, bool, error){tryAccess, tryRefresh}
	if hint == "refresh_token" {
		slices.Reverse(order)
	}
	for _, try := range order {
		res, matched, err := try()
		if err != nil || matched {
			return res, err
		}
	}
	return inactive, nil
}
