package token

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/authd/authd/challenge"
	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
	"github.com/authd/authd/identity"
	"github.com/authd/authd/token/verifier"
)

// totpFactors manages a user's TOTP factor and recovery codes.
type totpFactors interface {
	factorChecker
	Setup(ctx context.Context, userID, accountName string) (challenge.TOTPSetup, error)
	Enable(ctx context.Context, userID, code string) ([]string, error)
	Disable(ctx context.Context, userID string) error
	RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error)
}

// accountReader reads users and checks their passwords.
type accountReader interface {
	userGetter
	passwordChecker
}

// TwoFactorService implements authdv1connect.TwoFactorServiceHandler for
// the caller's own account (bearer token).
type TwoFactorService struct {
	factors totpFactors
	users   accountReader
	guard   Guard
	notices *Notices
}

var _ authdv1connect.TwoFactorServiceHandler = (*TwoFactorService)(nil)

// NewTwoFactorService returns the TwoFactorService handler.
func NewTwoFactorService(factors totpFactors, users accountReader, guard Guard, notices *Notices) *TwoFactorService {
	return &TwoFactorService{factors: factors, users: users, guard: guard, notices: notices}
}

// check runs a code check for u under the limiter.
func (s *TwoFactorService) check(ctx context.Context, req connect.AnyRequest, u identity.User, verify func() error) error {
	err := s.guard.Run(ctx, userKey(u.ID), connectMeta(req).IP, func() (wrong, complete bool, err error) {
		if err := verify(); err != nil {
			e := codeError(err)
			if errors.Is(err, identity.ErrInvalidCredentials) {
				e = errInvalidCredentials
			}
			return e.Status < 500, false, e
		}
		return false, true, nil
	})
	if err != nil {
		return connectError(err)
	}
	return nil
}

// caller returns the user of the verified bearer token.
func (s *TwoFactorService) caller(ctx context.Context) (identity.User, error) {
	c, ok := verifier.FromContext(ctx)
	if !ok {
		return identity.User{}, connectError(errUnauthenticated)
	}
	u, err := s.users.Get(ctx, c.Subject)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.User{}, connectError(errUnauthenticated)
	}
	if err != nil {
		return identity.User{}, connectError(err)
	}
	return u, nil
}

func (s *TwoFactorService) SetupTOTP(ctx context.Context, _ *connect.Request[authdv1.SetupTOTPRequest]) (*connect.Response[authdv1.SetupTOTPResponse], error) {
	u, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	account := u.Email
	if account == "" {
		account = u.Phone
	}
	setup, err := s.factors.Setup(ctx, u.ID, account)
	if errors.Is(err, challenge.ErrTOTPAlreadyEnabled) {
		return nil, newConnectError(connect.CodeAlreadyExists, "TOTP_ALREADY_ENABLED", "two-factor authentication is already enabled")
	}
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.SetupTOTPResponse{Secret: setup.Secret, OtpauthUri: setup.URI, QrPng: setup.QRPNG}), nil
}

func (s *TwoFactorService) EnableTOTP(ctx context.Context, req *connect.Request[authdv1.EnableTOTPRequest]) (*connect.Response[authdv1.EnableTOTPResponse], error) {
	u, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	var codes []string
	var state error
	err = s.check(ctx, req, u, func() error {
		var err error
		codes, err = s.factors.Enable(ctx, u.ID, req.Msg.Otp)
		if errors.Is(err, challenge.ErrNoPendingTOTP) || errors.Is(err, challenge.ErrTOTPAlreadyEnabled) {
			// Not a wrong code: answered below, not counted.
			state, err = err, nil
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case errors.Is(state, challenge.ErrNoPendingTOTP):
		return nil, newConnectError(connect.CodeFailedPrecondition, "TOTP_NOT_SET_UP", "call SetupTOTP first")
	case errors.Is(state, challenge.ErrTOTPAlreadyEnabled):
		return nil, newConnectError(connect.CodeAlreadyExists, "TOTP_ALREADY_ENABLED", "two-factor authentication is already enabled")
	}
	s.notices.TOTPChanged(ctx, u, true)
	return connect.NewResponse(&authdv1.EnableTOTPResponse{RecoveryCodes: codes}), nil
}

func (s *TwoFactorService) DisableTOTP(ctx context.Context, req *connect.Request[authdv1.DisableTOTPRequest]) (*connect.Response[authdv1.DisableTOTPResponse], error) {
	u, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var verify func() error
	switch {
	case m.Otp != "":
		verify = func() error { return s.factors.VerifyTOTP(ctx, u.ID, m.Otp) }
	case m.RecoveryCode != "":
		verify = func() error { return s.factors.UseRecoveryCode(ctx, u.ID, m.RecoveryCode) }
	case m.Password != "":
		login := u.Email
		if login == "" {
			login = u.Phone
		}
		verify = func() error { _, err := s.users.Authenticate(ctx, login, m.Password); return err }
	default:
		return nil, newConnectError(connect.CodeInvalidArgument, "INVALID_REQUEST", "give otp, recovery_code or password")
	}
	if err := s.check(ctx, req, u, verify); err != nil {
		return nil, err
	}
	if err := s.factors.Disable(ctx, u.ID); err != nil {
		return nil, connectError(err)
	}
	s.notices.TOTPChanged(ctx, u, false)
	return connect.NewResponse(&authdv1.DisableTOTPResponse{}), nil
}

func (s *TwoFactorService) RegenerateRecoveryCodes(ctx context.Context, req *connect.Request[authdv1.RegenerateRecoveryCodesRequest]) (*connect.Response[authdv1.RegenerateRecoveryCodesResponse], error) {
	u, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx, req, u, func() error { return s.factors.VerifyTOTP(ctx, u.ID, req.Msg.Otp) }); err != nil {
		return nil, err
	}
	codes, err := s.factors.RegenerateRecoveryCodes(ctx, u.ID)
	if errors.Is(err, challenge.ErrTOTPNotEnabled) {
		return nil, newConnectError(connect.CodeFailedPrecondition, "TOTP_NOT_ENABLED", "two-factor authentication is not enabled")
	}
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.RegenerateRecoveryCodesResponse{RecoveryCodes: codes}), nil
}
