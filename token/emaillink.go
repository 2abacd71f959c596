package token

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/authd/authd/challenge"
	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/identity"
)

// emailLinks checks and consumes verification-link tokens.
type emailLinks interface {
	Issue(ctx context.Context, userID string) (string, time.Duration, error)
	Peek(ctx context.Context, token string) (string, error)
	Consume(ctx context.Context, token string) (string, error)
}

// verifyLink consumes token and marks the user's email verified.
func (s *AccountService) verifyLink(ctx context.Context, token string) error {
	userID, err := s.links.Consume(ctx, token)
	if errors.Is(err, challenge.ErrInvalidLink) {
		return errInvalidLink
	}
	if err != nil {
		return err
	}
	_, err = s.users.CompleteSignUp(ctx, userID, identity.ChannelEmail)
	if errors.Is(err, identity.ErrNotFound) {
		return errInvalidLink
	}
	return err
}

var errInvalidLink = &Error{OAuthCode: "invalid_request", Status: http.StatusBadRequest,
	ConnectCode: connect.CodeInvalidArgument, Reason: "INVALID_LINK", Description: "the verification link is invalid, used or expired"}

const verifiedMessage = "Your email address is verified."

func (s *AccountService) VerifyEmail(ctx context.Context, req *connect.Request[authdv1.VerifyEmailRequest]) (*connect.Response[authdv1.VerifyEmailResponse], error) {
	if req.Msg.Token == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "token is required")
	}
	if err := s.verifyLink(ctx, req.Msg.Token); err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.VerifyEmailResponse{Message: verifiedMessage}), nil
}

// VerifyEmailPage serves the link people click,
// /api/v1/auth/verify-email?token=…. GET never consumes the token unless
// getVerifies is set: mail scanners prefetch links, and a prefetch must not
// use up the owner's link. GET checks the token and shows a page whose
// button POSTs it (form-encoded) here; that POST verifies. A JSON POST is the
// REST form of AccountService.VerifyEmail and goes to rest.
func (s *AccountService) VerifyEmailPage(getVerifies bool, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			token := r.URL.Query().Get("token")
			if getVerifies {
				s.answerLink(w, r, s.verifyLink(r.Context(), token), verifiedMessage)
				return
			}
			_, err := s.links.Peek(r.Context(), token)
			if errors.Is(err, challenge.ErrInvalidLink) {
				err = errInvalidLink
			}
			if err != nil {
				s.answerLink(w, r, err, "")
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer")
			_ = confirmPage.Execute(w, token)
		case r.Method == http.MethodPost && isForm(r):
			if err := r.ParseForm(); err != nil {
				s.answerLink(w, r, errInvalidRequest.withDescription("malformed form body"), "")
				return
			}
			s.answerLink(w, r, s.verifyLink(r.Context(), r.PostForm.Get("token")), verifiedMessage)
		default:
			rest.ServeHTTP(w, r)
		}
	})
}

func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// answerLink writes the outcome of a link as JSON or, for a browser, as a
// page. A used or expired link is 400, as in seed 002.
func (s *AccountService) answerLink(w http.ResponseWriter, r *http.Request, err error, message string) {
	status := http.StatusOK
	if err != nil {
		e := asError(err)
		if e.Status >= 500 {
			s.log.ErrorContext(r.Context(), "verify email link", "err", err)
		}
		status, message = e.Status, e.Description
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = resultPage.Execute(w, message)
		return
	}
	if err != nil {
		writeOAuthError(w, asError(err), 0)
		return
	}
	writeJSON(w, status, map[string]string{"message": message})
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

var confirmPage = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Verify your email address</title></head>
<body><form method="post" action="">
<input type="hidden" name="token" value="{{.}}">
<p>Confirm that this is your email address.</p>
<button type="submit">Verify my email address</button>
</form></body></html>
`))

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Email verification</title></head>
<body><p>{{.}}</p></body></html>
`))
