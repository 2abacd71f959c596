package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/authd/authd/challenge"
	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
	"github.com/authd/authd/identity"
	"github.com/authd/authd/token/verifier"
)

// accounts is what AccountService needs from identity.
type accounts interface {
	SignUp(ctx context.Context, in identity.SignUpInput) (identity.SignUpOutcome, error)
	CompleteSignUp(ctx context.Context, userID string, ch identity.Channel) (identity.User, error)
	Lookup(ctx context.Context, login string) (identity.User, error)
	Get(ctx context.Context, id string) (identity.User, error)
}

// userGetter reads a user by id.
type userGetter interface {
	Get(ctx context.Context, id string) (identity.User, error)
}

// codes issues and checks one-time codes.
type codes interface {
	Issue(ctx context.Context, purpose challenge.Purpose, subject string, payload []byte) (string, time.Duration, error)
	Verify(ctx context.Context, purpose challenge.Purpose, subject, code string) ([]byte, error)
	TTL() time.Duration
}

// AccountService implements authdv1connect.AccountServiceHandler.
type AccountService struct {
	users    accounts
	codes    codes
	links    emailLinks
	factors  secondFactors
	sender   challenge.Sender
	issuer   *Issuer
	clients  *Clients
	log      *slog.Logger
	linkBase string
	guard    Guard
	sends    sendLimiter
	reveal   bool
}

var _ authdv1connect.AccountServiceHandler = (*AccountService)(nil)

// AccountDeps is what AccountService is built from.
type AccountDeps struct {
	Users   accounts
	Codes   codes
	Links   emailLinks
	Factors secondFactors
	Sender  challenge.Sender
	Issuer  *Issuer
	Clients *Clients
	Log     *slog.Logger
	// Issuer URL: verification links point at its /api/v1/auth/verify-email.
	IssuerURL string
	// Guard throttles code checks; Sends limits messages.
	Guard Guard
	Sends sendLimiter
	// RevealExisting answers a signup of a verified address 409 instead of
	// sending its owner a notice (seed 002's behaviour).
	RevealExisting bool
}

// NewAccountService returns the AccountService handler.
func NewAccountService(d AccountDeps) *AccountService {
	return &AccountService{
		users: d.Users, codes: d.Codes, links: d.Links, factors: d.Factors, sender: d.Sender,
		issuer: d.Issuer, clients: d.Clients, log: d.Log, guard: d.Guard, sends: d.Sends, reveal: d.RevealExisting,
		linkBase: strings.TrimSuffix(d.IssuerURL, "/") + "/api/v1/auth/verify-email?token=",
	}
}

// The answer to SignUp and ResendVerification, the same whether or not the
// address is known, so neither can enumerate accounts.
const sentMessage = "If the address can be used, a verification code has been sent to it."

func (s *AccountService) SignUp(ctx context.Context, req *connect.Request[authdv1.SignUpRequest]) (*connect.Response[authdv1.SignUpResponse], error) {
	m := req.Msg
	out, err := s.users.SignUp(ctx, identity.SignUpInput{Email: m.Email, Phone: m.Phone, Password: m.Password, Name: m.Name})
	if err != nil {
		return nil, identityError(err)
	}
	if out.AlreadyVerified && s.reveal {
		return nil, newConnectError(connect.CodeAlreadyExists, "ADDRESS_IN_USE", "the address is already registered")
	}
	ch, to := channelOf(out.User, m.Phone != "")
	if err := s.allowSend(ctx, req, challenge.PurposeSignup, to); err != nil {
		return nil, err
	}
	if out.AlreadyVerified {
		// The owner learns someone tried; the caller learns nothing.
		err = s.send(ctx, ch, to, challenge.TemplateSignupNotice, nil)
	} else {
		err = s.sendVerification(ctx, out.User, ch, to)
	}
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.SignUpResponse{Message: sentMessage, CodeExpiresIn: int32(s.codes.TTL() / time.Second)}), nil
}

func (s *AccountService) VerifySignUp(ctx context.Context, req *connect.Request[authdv1.VerifySignUpRequest]) (*connect.Response[authdv1.VerifySignUpResponse], error) {
	m := req.Msg
	login, err := loginOf(m.Email, m.Phone)
	if err != nil {
		return nil, err
	}
	if m.Otp == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "otp is required")
	}
	scope, err := resolveScope(s.clients.Default(), m.Scope)
	if err != nil {
		return nil, connectError(err)
	}
	u, err := checkCode(ctx, s.guard, s.users, s.codes, challenge.PurposeSignup, login, m.Otp, connectMeta(req).IP)
	if err != nil {
		return nil, connectError(err)
	}
	ch := identity.ChannelEmail
	if m.Email == "" {
		ch = identity.ChannelPhone
	}
	u, err = s.users.CompleteSignUp(ctx, u.ID, ch)
	if err != nil {
		return nil, connectError(err)
	}
	t, err := s.issuer.Login(ctx, s.clients.Default(), u, scope, []string{"otp"}, connectMeta(req))
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.VerifySignUpResponse{Tokens: tokensProto(t), User: userProto(u)}), nil
}

func (s *AccountService) ResendVerification(ctx context.Context, req *connect.Request[authdv1.ResendVerificationRequest]) (*connect.Response[authdv1.ResendVerificationResponse], error) {
	login, err := loginOf(req.Msg.Email, req.Msg.Phone)
	if err != nil {
		return nil, err
	}
	u, found, err := s.lookupForSend(ctx, req, challenge.PurposeSignup, login)
	if err != nil {
		return nil, err
	}
	if found && !u.Verified() {
		ch, to := channelOf(u, req.Msg.Phone != "")
		if err := s.sendVerification(ctx, u, ch, to); err != nil {
			return nil, connectError(err)
		}
	}
	return connect.NewResponse(&authdv1.ResendVerificationResponse{Message: sentMessage}), nil
}

// RequestOTP sends a login code to a verified address ("login", the
// default) or a fresh verification code to an unverified one ("signup"),
// answering the same whatever the address.
func (s *AccountService) RequestOTP(ctx context.Context, req *connect.Request[authdv1.RequestOTPRequest]) (*connect.Response[authdv1.RequestOTPResponse], error) {
	m := req.Msg
	login, err := loginOf(m.Email, m.Phone)
	if err != nil {
		return nil, err
	}
	purpose := m.Purpose
	if purpose == "" {
		purpose = string(challenge.PurposeLogin)
	}
	if purpose != string(challenge.PurposeLogin) && purpose != string(challenge.PurposeSignup) {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_PURPOSE", `purpose must be "login" or "signup"`)
	}
	u, found, err := s.lookupForSend(ctx, req, challenge.Purpose(purpose), login)
	if err != nil {
		return nil, err
	}
	if found {
		ch, to := channelOf(u, m.Phone != "")
		verified := u.EmailVerified()
		if ch == challenge.ChannelSMS {
			verified = u.PhoneVerified()
		}
		switch {
		case purpose == string(challenge.PurposeLogin) && verified:
			err = s.issueAndSend(ctx, challenge.PurposeLogin, u, ch, to, challenge.TemplateLoginCode)
		case purpose == string(challenge.PurposeSignup) && !u.Verified():
			err = s.sendVerification(ctx, u, ch, to)
		}
		if err != nil {
			return nil, connectError(err)
		}
	}
	return connect.NewResponse(&authdv1.RequestOTPResponse{
		Message: "If the address can be used, a code has been sent to it.", CodeExpiresIn: int32(s.codes.TTL() / time.Second),
	}), nil
}

func (s *AccountService) GetMe(ctx context.Context, _ *connect.Request[authdv1.GetMeRequest]) (*connect.Response[authdv1.GetMeResponse], error) {
	c, ok := verifier.FromContext(ctx)
	if !ok {
		return nil, connectError(errUnauthenticated)
	}
	u, err := s.users.Get(ctx, c.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		// The account went away after the token was minted.
		return nil, connectError(errUnauthenticated)
	}
	if err != nil {
		return nil, connectError(err)
	}
	out := userProto(u)
	if out.TotpEnabled, err = s.factors.Enabled(ctx, u.ID); err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.GetMeResponse{User: out}), nil
}

// lookupForSend finds the account of a request that sends a message and
// applies the send limits whether or not the address is known, so neither
// the answer nor a 429 tells which. found is false for an unknown address.
func (s *AccountService) lookupForSend(ctx context.Context, req connect.AnyRequest, purpose challenge.Purpose, login string) (identity.User, bool, error) {
	u, err := s.users.Lookup(ctx, login)
	found := err == nil
	switch {
	case errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
		return u, false, identityError(err)
	case err != nil && !errors.Is(err, identity.ErrNotFound):
		return u, false, connectError(err)
	}
	if err := s.allowSend(ctx, req, purpose, login); err != nil {
		return u, false, err
	}
	return u, found, nil
}

// allowSend applies the send limits to a request for a message of purpose
// to address, whether or not an account has it, so a 429 tells nothing.
// Limits are kept per purpose, as GoTrue does per action, so the login
// code someone asks for right after verifying is not refused.
func (s *AccountService) allowSend(ctx context.Context, req connect.AnyRequest, purpose challenge.Purpose, address string) error {
	key := string(purpose) + ":" + strings.TrimPrefix(loginKey(address), "login:")
	if err := refused(s.sends.Allow(ctx, key, connectMeta(req).IP)); err != nil {
		return connectError(err)
	}
	return nil
}

// sendVerification sends a signup code and, by email, a verification link
// too.
func (s *AccountService) sendVerification(ctx context.Context, u identity.User, ch challenge.Channel, to string) error {
	if ch != challenge.ChannelEmail {
		return s.issueAndSend(ctx, challenge.PurposeSignup, u, ch, to, challenge.TemplateSignupCode)
	}
	code, ttl, err := s.codes.Issue(ctx, challenge.PurposeSignup, u.ID, nil)
	if err != nil {
		return fmt.Errorf("issue signup code: %w", err)
	}
	link, linkTTL, err := s.links.Issue(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("issue verification link: %w", err)
	}
	return s.send(ctx, ch, to, challenge.TemplateSignupEmail, map[string]string{
		"otp": code, "expiry": humanDuration(ttl), "link": s.linkBase + link, "link_expiry": humanDuration(linkTTL),
	})
}

// issueAndSend issues a code for purpose and sends it with template.
func (s *AccountService) issueAndSend(ctx context.Context, purpose challenge.Purpose, u identity.User, ch challenge.Channel, to, template string) error {
	code, ttl, err := s.codes.Issue(ctx, purpose, u.ID, nil)
	if err != nil {
		return fmt.Errorf("issue %s code: %w", purpose, err)
	}
	return s.send(ctx, ch, to, template, map[string]string{"otp": code, "expiry": humanDuration(ttl)})
}

// send queues a message; it is rendered and delivered asynchronously.
func (s *AccountService) send(ctx context.Context, ch challenge.Channel, to, template string, vars map[string]string) error {
	if err := s.sender.Send(ctx, challenge.Message{Channel: ch, To: to, Template: template, Variables: vars}); err != nil {
		return fmt.Errorf("queue %s: %w", template, err)
	}
	return nil
}

// channelOf picks where a user's message goes: the phone when the request
// named one, the email otherwise.
func channelOf(u identity.User, byPhone bool) (challenge.Channel, string) {
	if byPhone {
		return challenge.ChannelSMS, u.Phone
	}
	return challenge.ChannelEmail, u.Email
}

// loginOf takes the one address a request names.
func loginOf(email, phone string) (string, error) {
	switch {
	case email != "" && phone != "":
		return "", newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "give email or phone, not both")
	case email != "":
		return email, nil
	case phone != "":
		return phone, nil
	}
	return "", newConnectError(connect.CodeInvalidArgument, "ADDRESS_REQUIRED", "email or phone is required")
}

// identityError maps identity's refusals to client errors.
func identityError(err error) error {
	var pe *identity.PolicyError
	switch {
	case errors.As(err, &pe):
		return newConnectError(connect.CodeInvalidArgument, pe.Reason, pe.Message)
	case errors.Is(err, identity.ErrInvalidEmail):
		return newConnectError(connect.CodeInvalidArgument, "INVALID_EMAIL", "the email address is not valid")
	case errors.Is(err, identity.ErrInvalidPhone):
		return newConnectError(connect.CodeInvalidArgument, "INVALID_PHONE", "the phone number is not valid (E.164, e.g. +14155550100)")
	case errors.Is(err, identity.ErrAddressRequired):
		return newConnectError(connect.CodeInvalidArgument, "ADDRESS_REQUIRED", "email or phone is required")
	}
	return connectError(err)
}

// codeError maps a failed code check.
func codeError(err error) *Error {
	switch {
	case errors.Is(err, challenge.ErrInvalidCode):
		return errInvalidCode
	case errors.Is(err, challenge.ErrTooManyAttempts):
		return errTooManyAttempts
	}
	return errServer.withCause(err)
}

func connectMeta(req connect.AnyRequest) RequestMeta {
	host := req.Peer().Addr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return RequestMeta{UserAgent: req.Header().Get("User-Agent"), IP: host}
}

func tokensProto(t *Tokens) *authdv1.Tokens {
	return &authdv1.Tokens{
		AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: t.ExpiresIn,
		RefreshToken: t.RefreshToken, Scope: t.Scope, IdToken: t.IDToken,
	}
}

func userProto(u identity.User) *authdv1.User {
	return &authdv1.User{
		Id: u.ID, Email: u.Email, EmailVerified: u.EmailVerified(), Phone: u.Phone,
		PhoneVerified: u.PhoneVerified(), Name: u.Name, CreatedAt: timestamppb.New(u.CreatedAt),
	}
}

// passwordParams builds the password grant's parameters from an RPC.
func passwordParams(login, password, scope string) url.Values {
	v := url.Values{"username": {login}, "password": {password}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// humanDuration renders a code lifetime for a message: "5 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d/time.Second), "second")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
