package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authdv1 "github.com/authd/authd/gen/authd/v1"
	"github.com/authd/authd/gen/authd/v1/authdv1connect"
	"github.com/authd/authd/keystore"
)

// keyAdmin is what the admin API needs from the keystore.
type keyAdmin interface {
	Published() []keystore.Key
	Rotate(ctx context.Context) (keystore.Key, bool, error)
}

// AdminService implements authdv1connect.AdminServiceHandler.
type AdminService struct {
	keys keyAdmin
	now  func() time.Time
}

var _ authdv1connect.AdminServiceHandler = (*AdminService)(nil)

// NewAdminService returns the AdminService handler; guard it with
// AdminAuth.
func NewAdminService(keys keyAdmin) *AdminService {
	return &AdminService{keys: keys, now: time.Now}
}

func (s *AdminService) ListKeys(context.Context, *connect.Request[authdv1.ListKeysRequest]) (*connect.Response[authdv1.ListKeysResponse], error) {
	now := s.now()
	out := &authdv1.ListKeysResponse{}
	for _, k := range s.keys.Published() {
		out.Keys = append(out.Keys, keyProto(k, now))
	}
	return connect.NewResponse(out), nil
}

func (s *AdminService) RotateKeys(ctx context.Context, _ *connect.Request[authdv1.RotateKeysRequest]) (*connect.Response[authdv1.RotateKeysResponse], error) {
	next, _, err := s.keys.Rotate(ctx)
	if errors.Is(err, keystore.ErrReadOnly) {
		return nil, newConnectError(connect.CodeFailedPrecondition, "KEYS_READ_ONLY", "keys come from PEM files: add one with `authd keys generate`")
	}
	if err != nil {
		return nil, connectError(err)
	}
	return connect.NewResponse(&authdv1.RotateKeysResponse{Key: keyProto(next, s.now())}), nil
}

func keyProto(k keystore.Key, now time.Time) *authdv1.SigningKey {
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	return &authdv1.SigningKey{
		Kid: k.ID, State: k.StateAt(now).String(), CreatedAt: ts(k.CreatedAt),
		ActivatesAt: ts(k.ActivatesAt), RetiresAt: ts(k.RetiresAt), ExpiresAt: ts(k.ExpiresAt),
	}
}

// AdminAuth admits calls bearing the admin token whose SHA-256 is hash,
// compared in constant time; with no hash configured every call is
// refused.
func AdminAuth(hash []byte) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if len(hash) == 0 {
				return nil, newConnectError(connect.CodePermissionDenied, "ADMIN_DISABLED", "the admin API is disabled: set admin.token_hash")
			}
			scheme, tok, _ := strings.Cut(req.Header().Get("Authorization"), " ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], hash) != 1 {
				return nil, connectError(errUnauthenticated)
			}
			return next(ctx, req)
		}
	})
}
