package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
)

// UpdateToken implements IssuerService.
func (s *Issuer) UpdateToken(ctx context.Context, req *gatepassv1.UpdateTokenRequest) (*gatepassv1.UpdateTokenResponse, error) {
	t, err := s.Lifecycle.Update(principal(ctx), lifecycle.Update{
		TokenID: req.GetTokenId(), Paths: req.GetUpdateMask().GetPaths(),
		Name: req.GetName(), Description: req.GetDescription(), OwnerID: req.GetOwnerId(),
	})
	if err != nil {
		return nil, toStatus(err, "token or owner")
	}
	return &gatepassv1.UpdateTokenResponse{Token: t}, nil
}

// RotateToken implements IssuerService.
func (s *Issuer) RotateToken(ctx context.Context, req *gatepassv1.RotateTokenRequest) (*gatepassv1.RotateTokenResponse, error) {
	r, err := s.Lifecycle.Rotate(principal(ctx), lifecycle.Rotation{
		TokenID: req.GetTokenId(), Name: req.GetName(), ExpireTime: req.GetExpireTime(),
		DisableOldAfter: req.GetDisableOldAfter(), RevokeOldAfter: req.GetRevokeOldAfter(),
		Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.RotateTokenResponse{
		Token: r.Token, Secret: r.Secret, OldToken: r.Old, Receipt: s.propagate(ctx, r.EventID),
	}, nil
}
