package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
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
	authdv1connect.UnimplementedAccountServiceHandler

	users   accounts
	codes   codes
	sender  challenge.Sender
	issuer  *Issuer
	clients *Clients
	log     *slog.Logger
}

var _ authdv1connect.AccountServiceHandler = (*AccountService)(nil)

// NewAccountService returns the AccountService handler.
func NewAccountService(users accounts, codes codes, sender challenge.Sender, issuer *Issuer, clients *Clients, log *slog.Logger) *AccountService {
	return &AccountService{users: users, codes: codes, sender: sender, issuer: issuer, clients: clients, log: log}
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
	ch, to := channelOf(out.User)
	var ttl time.Duration
	if out.AlreadyVerified {
		// The owner learns someone tried; the caller learns nothing.
		err = s.send(ctx, ch, to, "signup_notice", nil)
		ttl = s.codes.TTL()
	} else {
		ttl, err = s.sendCode(ctx, out.User, ch, to)
	}
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.SignUpResponse{Message: sentMessage, CodeExpiresIn: int32(ttl / time.Second)}), nil
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
	u, err := s.users.Lookup(ctx, login)
	switch {
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
		// Indistinguishable from a wrong code.
		return nil, connectError(errInvalidCode)
	case err != nil:
		return nil, connectError(err)
	}
	if _, err := s.codes.Verify(ctx, challenge.PurposeSignup, u.ID, m.Otp); err != nil {
		return nil, connectError(codeError(err))
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
	u, err := s.users.Lookup(ctx, login)
	switch {
	case errors.Is(err, identity.ErrInvalidEmail), errors.Is(err, identity.ErrInvalidPhone):
		return nil, identityError(err)
	case errors.Is(err, identity.ErrNotFound):
	case err != nil:
		return nil, connectError(err)
	case !u.Verified():
		ch, to := channelOf(u)
		if _, err := s.sendCode(ctx, u, ch, to); err != nil {
			return nil, connectError(err)
		}
	}
	return connect.NewResponse(&authdv1.ResendVerificationResponse{Message: sentMessage}), nil
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
	return connect.NewResponse(&authdv1.GetMeResponse{User: userProto(u)}), nil
}

func (s *AccountService) sendCode(ctx context.Context, u identity.User, ch challenge.Channel, to string) (time.Duration, error) {
	code, ttl, err := s.codes.Issue(ctx, challenge.PurposeSignup, u.ID, nil)
	if err != nil {
		return 0, fmt.Errorf("issue signup code: %w", err)
	}
	err = s.send(ctx, ch, to, "signup_code", map[string]string{"otp": code, "expiry": humanDuration(ttl)})
	return ttl, err
}

func (s *AccountService) send(ctx context.Context, ch challenge.Channel, to, template string, vars map[string]string) error {
	subject, body, err := challenge.Render(template, vars)
	if err != nil {
		return fmt.Errorf("render %s: %w", template, err)
	}
	if err := s.sender.Send(ctx, challenge.Message{Channel: ch, To: to, Template: template, Subject: subject, Body: body, Variables: vars}); err != nil {
		return fmt.Errorf("send %s: %w", template, err)
	}
	return nil
}

// channelOf picks where a user's messages go: email when there is one.
func channelOf(u identity.User) (challenge.Channel, string) {
	if u.Email != "" {
		return challenge.ChannelEmail, u.Email
	}
	return challenge.ChannelSMS, u.Phone
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
func codeError(err error) error {
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
