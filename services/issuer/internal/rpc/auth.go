package rpc

import (
	"context"
	"errors"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type principalKey struct{}

// errUnauthenticated is the one answer to every bad credential, so callers
// cannot tell a malformed token from an unknown, disabled or expired one.
var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid bearer token")

// Authenticator turns the bearer token of a call into an access.Principal.
type Authenticator struct {
	Store  *store.Store
	Format token.Format
	Now    func() time.Time
}

// Authenticate implements grpcserver.AuthFunc.
func (a *Authenticator) Authenticate(ctx context.Context, _ string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return nil, errUnauthenticated
	}
	scheme, raw, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil, errUnauthenticated
	}
	sec, err := a.Format.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errUnauthenticated
	}
	var p access.Principal
	err = a.Store.View(func(tx *store.Tx) error {
		st, err := tx.TokenByDigest(sec.Digest())
		if err != nil {
			return err
		}
		t := st.GetToken()
		if t.GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE || expired(t, a.Now()) {
			return errInactive
		}
		m, err := tx.Member(t.GetOwnerId())
		if err != nil {
			return err
		}
		p = access.Principal{
			TokenID:     t.GetId(),
			MemberID:    m.GetId(),
			WorkspaceID: t.GetWorkspaceId(),
			ProjectID:   t.GetProjectId(),
			Role: access.EffectiveRole(access.Role(t.GetRole()), access.Role(m.GetRole()),
				m.GetState() == gatepassv1.MemberState_MEMBER_STATE_ACTIVE),
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errInactive) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "authentication failed")
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

var errInactive = errors.New("token inactive")

func principal(ctx context.Context) access.Principal {
	p, _ := ctx.Value(principalKey{}).(access.Principal)
	return p
}

func expired(t *gatepassv1.Token, now time.Time) bool {
	return token.Expired(t, now)
}
