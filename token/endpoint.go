package token

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxFormBytes bounds a /token request body; real ones are a few hundred
// bytes.
const maxFormBytes = 64 << 10

// Endpoint is the OAuth2 token endpoint (RFC 6749 section 3.2).
type Endpoint struct {
	x       *Exchanger
	clients *Clients
	log     *slog.Logger
}

// NewEndpoint returns the /token handler.
func NewEndpoint(x *Exchanger, clients *Clients, log *slog.Logger) *Endpoint {
	return &Endpoint{x: x, clients: clients, log: log}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int32  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

type errorResponse struct {
	Error       string   `json:"error"`
	Description string   `json:"error_description,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	MFAToken    string   `json:"mfa_token,omitempty"`
	Factors     []string `json:"factors,omitempty"`
	ExpiresIn   int32    `json:"expires_in,omitempty"`
}

// clientRequest runs the phases /token, /revoke and /introspect share:
// POST only, parse the form (or JSON), authenticate the client. On failure
// it has written the error and ok is false.
func (e *Endpoint) clientRequest(w http.ResponseWriter, r *http.Request) (client *Client, params url.Values, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, errInvalidRequest.withDescription("POST only"), http.StatusMethodNotAllowed)
		return nil, nil, false
	}
	params, perr := parseTokenRequest(w, r)
	if perr != nil {
		writeOAuthError(w, perr, 0)
		return nil, nil, false
	}
	client, cerr := e.authenticateClient(r, params)
	if cerr != nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="authd"`)
		}
		writeOAuthError(w, cerr, 0)
		return nil, nil, false
	}
	return client, params, true
}

func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client, params, ok := e.clientRequest(w, r)
	if !ok {
		return
	}
	grantType := params.Get("grant_type")
	if grantType == "" {
		writeOAuthError(w, errInvalidRequest.withDescription("grant_type is required"), 0)
		return
	}
	res, err := e.x.Exchange(r.Context(), client, grantType, params, requestMeta(r))
	if err != nil {
		writeOAuthError(w, asError(err), 0)
		return
	}
	if res.MFA != nil {
		writeJSON(w, http.StatusForbidden, errorResponse{
			Error: "mfa_required", Description: "a second factor is required",
			Reason: "MFA_REQUIRED", MFAToken: res.MFA.Token, Factors: res.MFA.Factors, ExpiresIn: res.MFA.ExpiresIn,
		})
		return
	}
	t := res.Tokens
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: t.ExpiresIn,
		RefreshToken: t.RefreshToken, Scope: t.Scope, IDToken: t.IDToken,
	})
}

// parseTokenRequest reads a form-encoded (RFC 6749) or JSON body into
// parameters, refusing anything ambiguous: repeated parameters (section
// 3.2), non-string JSON values, NUL bytes, invalid UTF-8.
func parseTokenRequest(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errInvalidRequest.withDescription("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errInvalidRequest.withDescription("request body too large")
		}
		return nil, errInvalidRequest.withDescription("could not read the request body")
	}
	var params url.Values
	switch ct {
	case "application/x-www-form-urlencoded":
		params, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, errInvalidRequest.withDescription("malformed form body")
		}
	case "application/json":
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		if err := dec.Decode(&obj); err != nil || dec.More() {
			return nil, errInvalidRequest.withDescription("malformed JSON body: want one object of string values")
		}
		params = url.Values{}
		for k, v := range obj {
			s, ok := v.(string)
			if !ok {
				return nil, errInvalidRequest.withDescription("parameter " + quoteParam(k) + " must be a string")
			}
			params.Set(k, s)
		}
	default:
		return nil, errInvalidRequest.withDescription("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	for k, vs := range params {
		if len(vs) > 1 {
			return nil, errInvalidRequest.withDescription("parameter " + quoteParam(k) + " is repeated")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) || strings.ContainsRune(k+vs[0], 0) {
			return nil, errInvalidRequest.withDescription("parameters must be valid UTF-8 without NUL")
		}
	}
	return params, nil
}

// authenticateClient applies RFC 6749 section 2.3: HTTP Basic or
// client_secret_post for confidential clients, client_id alone for public
// ones, and the default client when the request names none.
func (e *Endpoint) authenticateClient(r *http.Request, params url.Values) (*Client, *Error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		if params.Has("client_secret") {
			return nil, errInvalidRequest.withDescription("use one client authentication method")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient
		}
		if p := params.Get("client_id"); p != "" && p != id {
			return nil, errInvalidRequest.withDescription("client_id does not match the authenticated client")
		}
	} else {
		id, secret = params.Get("client_id"), params.Get("client_secret")
	}
	if id == "" {
		return e.clients.Default(), nil
	}
	c, ok := e.clients.Get(id)
	if !ok {
		return nil, errInvalidClient
	}
	if c.Public() {
		if secret != "" {
			return nil, errInvalidClient
		}
		return c, nil
	}
	if secret == "" || !c.checkSecret(secret) {
		return nil, errInvalidClient
	}
	return c, nil
}

// requestMeta extracts the caller's address and user agent. The address is
// the connection's peer; trusted proxies come with rate limiting.
func requestMeta(r *http.Request) RequestMeta {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return RequestMeta{UserAgent: strings.ToValidUTF8(ua, ""), IP: host}
}

func writeOAuthError(w http.ResponseWriter, e *Error, status int) {
	if status == 0 {
		status = e.Status
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	writeJSON(w, status, errorResponse{Error: e.OAuthCode, Description: e.Description, Reason: e.Reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
