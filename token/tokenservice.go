package token

import (
	"context"
	"net/url"

	"connectrpc.com/connect"

	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
)

// sessionRevoker ends a session by its refresh token.
type sessionRevoker interface {
	Revoke(ctx context.Context, token string) error
}

// publicKeys gives the active key as PEM.
type publicKeys interface {
	PublicKeyPEM() ([]byte, string, error)
}

// TokenService implements authdv1connect.TokenServiceHandler on top of the
// same Exchanger as /token, always as the default client.
type TokenService struct {
	x        *Exchanger
	clients  *Clients
	sessions sessionRevoker
	keys     publicKeys
}

var _ authdv1connect.TokenServiceHandler = (*TokenService)(nil)

// NewTokenService returns the TokenService handler.
func NewTokenService(x *Exchanger, clients *Clients, sessions sessionRevoker, keys publicKeys) *TokenService {
	return &TokenService{x: x, clients: clients, sessions: sessions, keys: keys}
}

func (s *TokenService) Login(ctx context.Context, req *connect.Request[authdv1.LoginRequest]) (*connect.Response[authdv1.LoginResponse], error) {
	m := req.Msg
	login, err := loginOf(m.Email, m.Phone)
	if err != nil {
		return nil, err
	}
	if m.Password == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "password is required")
	}
	res, err := s.x.Exchange(ctx, s.clients.Default(), GrantPassword, passwordParams(login, m.Password, m.Scope), connectMeta(req))
	if err != nil {
		return nil, connectError(err)
	}
	out := &authdv1.LoginResponse{}
	if res.MFA != nil {
		out.Result = &authdv1.LoginResponse_MfaChallenge{MfaChallenge: mfaProto(res.MFA)}
	} else {
		out.Result = &authdv1.LoginResponse_Tokens{Tokens: tokensProto(res.Tokens)}
	}
	return connect.NewResponse(out), nil
}

func (s *TokenService) VerifyLogin(ctx context.Context, req *connect.Request[authdv1.VerifyLoginRequest]) (*connect.Response[authdv1.VerifyLoginResponse], error) {
	m := req.Msg
	login, err := loginOf(m.Email, m.Phone)
	if err != nil {
		return nil, err
	}
	if m.Otp == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "otp is required")
	}
	params := url.Values{"username": {login}, "otp": {m.Otp}}
	if m.Scope != "" {
		params.Set("scope", m.Scope)
	}
	res, err := s.x.Exchange(ctx, s.clients.Default(), GrantOTP, params, connectMeta(req))
	if err != nil {
		return nil, connectError(err)
	}
	out := &authdv1.VerifyLoginResponse{}
	if res.MFA != nil {
		out.Result = &authdv1.VerifyLoginResponse_MfaChallenge{MfaChallenge: mfaProto(res.MFA)}
	} else {
		out.Result = &authdv1.VerifyLoginResponse_Tokens{Tokens: tokensProto(res.Tokens)}
	}
	return connect.NewResponse(out), nil
}

func (s *TokenService) VerifyTwoFactor(ctx context.Context, req *connect.Request[authdv1.VerifyTwoFactorRequest]) (*connect.Response[authdv1.VerifyTwoFactorResponse], error) {
	m := req.Msg
	params := url.Values{"mfa_token": {m.MfaToken}}
	if m.Otp != "" {
		params.Set("otp", m.Otp)
	}
	if m.RecoveryCode != "" {
		params.Set("recovery_code", m.RecoveryCode)
	}
	res, err := s.x.Exchange(ctx, s.clients.Default(), GrantMFAOTP, params, connectMeta(req))
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.VerifyTwoFactorResponse{Tokens: tokensProto(res.Tokens)}), nil
}

func (s *TokenService) Refresh(ctx context.Context, req *connect.Request[authdv1.RefreshRequest]) (*connect.Response[authdv1.RefreshResponse], error) {
	if req.Msg.RefreshToken == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "refresh_token is required")
	}
	params := url.Values{"refresh_token": {req.Msg.RefreshToken}}
	if req.Msg.Scope != "" {
		params.Set("scope", req.Msg.Scope)
	}
	res, err := s.x.Exchange(ctx, s.clients.Default(), GrantRefreshToken, params, connectMeta(req))
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.RefreshResponse{Tokens: tokensProto(res.Tokens)}), nil
}

func (s *TokenService) Logout(ctx context.Context, req *connect.Request[authdv1.LogoutRequest]) (*connect.Response[authdv1.LogoutResponse], error) {
	if req.Msg.RefreshToken == "" {
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "refresh_token is required")
	}
	if err := s.sessions.Revoke(ctx, req.Msg.RefreshToken); err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.LogoutResponse{}), nil
}

func (s *TokenService) GetPublicKey(context.Context, *connect.Request[authdv1.GetPublicKeyRequest]) (*connect.Response[authdv1.GetPublicKeyResponse], error) {
	pem, kid, err := s.keys.PublicKeyPEM()
	if err != nil {
		return nil, connectError(errUnavailable.withCause(err))
	}
	return connect.NewResponse(&authdv1.GetPublicKeyResponse{PublicKeyPem: string(pem), Kid: kid, Alg: "RS256"}), nil
}

func mfaProto(m *MFAChallenge) *authdv1.MfaChallenge {
	return &authdv1.MfaChallenge{MfaToken: m.Token, Factors: m.Factors, ExpiresIn: m.ExpiresIn}
}
