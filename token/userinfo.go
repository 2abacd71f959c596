package token

import (
	"errors"
	"net/http"

	"github.com/authd/authd/identity"
	"github.com/authd/authd/token/verifier"
)

// UserInfo is the OIDC userinfo endpoint (OpenID Connect Core 5.3): the
// claims of the token's subject that its scope allows.
type UserInfo struct {
	users userGetter
}

// NewUserInfo returns the handler; wrap it in a verifier Middleware.
func NewUserInfo(users userGetter) *UserInfo { return &UserInfo{users: users} }

type userInfoResponse struct {
	Subject             string `json:"sub"`
	Email               string `json:"email,omitempty"`
	EmailVerified       *bool  `json:"email_verified,omitempty"`
	PhoneNumber         string `json:"phone_number,omitempty"`
	PhoneNumberVerified *bool  `json:"phone_number_verified,omitempty"`
	Name                string `json:"name,omitempty"`
}

func (h *UserInfo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c, ok := verifier.FromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", verifier.Challenge)
		writeOAuthError(w, errUnauthenticated, 0)
		return
	}
	u, err := h.users.Get(r.Context(), c.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		w.Header().Set("WWW-Authenticate", verifier.Challenge)
		writeOAuthError(w, errUnauthenticated, 0)
		return
	}
	if err != nil {
		writeOAuthError(w, errServer, 0)
		return
	}
	out := userInfoResponse{Subject: u.ID}
	if c.HasScope("email") && u.Email != "" {
		v := u.EmailVerified()
		out.Email, out.EmailVerified = u.Email, &v
	}
	if c.HasScope("phone") && u.Phone != "" {
		v := u.PhoneVerified()
		out.PhoneNumber, out.PhoneNumberVerified = u.Phone, &v
	}
	if c.HasScope("profile") {
		out.Name = u.Name
	}
	writeJSON(w, http.StatusOK, out)
}
