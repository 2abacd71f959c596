package token

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token/verifier"
)

// sessionLister is what SessionService needs from session.
type sessionLister interface {
	List(ctx context.Context, userID string) ([]session.Session, error)
	Get(ctx context.Context, id string) (session.Session, error)
	RevokeSession(ctx context.Context, id, reason string) error
}

// SessionService implements authdv1connect.SessionServiceHandler for the
// caller's own sessions.
type SessionService struct {
	sessions sessionLister
}

var _ authdv1connect.SessionServiceHandler = (*SessionService)(nil)

// NewSessionService returns the SessionService handler.
func NewSessionService(sessions sessionLister) *SessionService {
	return &SessionService{sessions: sessions}
}

func (s *SessionService) ListSessions(ctx context.Context, _ *connect.Request[authdv1.ListSessionsRequest]) (*connect.Response[authdv1.ListSessionsResponse], error) {
	c, ok := verifier.FromContext(ctx)
	if !ok {
		return nil, connectError(errUnauthenticated)
	}
	list, err := s.sessions.List(ctx, c.Subject)
	if err != nil {
		return nil, connectError(err)
	}
	out := &authdv1.ListSessionsResponse{Sessions: make([]*authdv1.Session, 0, len(list))}
	for _, x := range list {
		out.Sessions = append(out.Sessions, &authdv1.Session{
			Id: x.ID, ClientId: x.ClientID, UserAgent: x.UserAgent, Ip: x.IP,
			CreatedAt: timestamppb.New(x.CreatedAt), LastUsedAt: timestamppb.New(x.LastUsedAt),
			ExpiresAt: timestamppb.New(x.ExpiresAt), Current: x.ID == c.SessionID,
		})
	}
	return connect.NewResponse(out), nil
}

func (s *SessionService) RevokeSession(ctx context.Context, req *connect.Request[authdv1.RevokeSessionRequest]) (*connect.Response[authdv1.RevokeSessionResponse], error) {
	c, ok := verifier.FromContext(ctx)
	if !ok {
		return nil, connectError(errUnauthenticated)
	}
	// Someone else's session is answered like a missing one.
	x, err := s.sessions.Get(ctx, req.Msg.SessionId)
	if errors.Is(err, session.ErrNotFound) || (err == nil && x.UserID != c.Subject) {
		return nil, newConnectError(connect.CodeNotFound, "SESSION_NOT_FOUND", "no such session")
	}
	if err != nil {
		return nil, connectError(err)
	}
	if err := s.sessions.RevokeSession(ctx, x.ID, "revoked"); err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.RevokeSessionResponse{}), nil
}

func (s *SessionService) RevokeOtherSessions(ctx context.Context, _ *connect.Request[authdv1.RevokeOtherSessionsRequest]) (*connect.Response[authdv1.RevokeOtherSessionsResponse], error) {
	c, ok := verifier.FromContext(ctx)
	if !ok {
		return nil, connectError(errUnauthenticated)
	}
	list, err := s.sessions.List(ctx, c.Subject)
	if err != nil {
		return nil, connectError(err)
	}
	var n int32
	for _, x := range list {
		if x.ID == c.SessionID {
			continue
		}
		if err := s.sessions.RevokeSession(ctx, x.ID, "revoked"); err != nil {
			return nil, connectError(err)
		}
		n++
	}
	return connect.NewResponse(&authdv1.RevokeOtherSessionsResponse{Revoked: n}), nil
}
