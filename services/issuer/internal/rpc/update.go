package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
)

// UpdateToken implements IssuerService.
func (s *Issuer) UpdateToken(ctx context.Context, req *gatepassv1.UpdateTokenRequest) (*gatepassv1.UpdateTokenResponse, error) {
	u, err := s.Lifecycle.Update(principal(ctx), lifecycle.Update{
		TokenID: req.GetTokenId(), Paths: req.GetUpdateMask().GetPaths(),
		Name: req.GetName(), Description: req.GetDescription(), OwnerID: req.GetOwnerId(),
		Narrowing: lifecycle.Narrowing{
			Role: req.GetRole(), ProjectID: req.GetProjectId(), AllowedCIDRs: req.GetAllowedCidrs(), ExpireTime: req.GetExpireTime(),
		},
	})
	if err != nil {
		return nil, toStatus(err, "token, owner or project")
	}
	resp := &gatepassv1.UpdateTokenResponse{Token: u.Token}
	if u.EventID != "" {
		// Narrowed access holds once every validator has applied it.
		resp.Receipt = s.propagate(ctx, u.EventID)
	}
	return resp, nil
}

// RotateToken implements IssuerService.
func (s *Issuer) RotateToken(ctx context.Context, req *gatepassv1.RotateTokenRequest) (*gatepassv1.RotateTokenResponse, error) {
	r, err := s.Lifecycle.Rotate(principal(ctx), lifecycle.Rotation{
		TokenID: req.GetTokenId(), Name: req.GetName(), ExpireTime: req.GetExpireTime(),
		DisableOldAfter: req.GetDisableOldAfter(), RevokeOldAfter: req.GetRevokeOldAfter(),
		Reason:    req.GetReason(),
		Narrowing: lifecycle.Narrowing{Role: req.GetRole(), ProjectID: req.GetProjectId(), AllowedCIDRs: nilIfEmpty(req.GetAllowedCidrs())},
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.RotateTokenResponse{
		Token: r.Token, Secret: r.Secret, OldToken: r.Old, Receipt: s.propagate(ctx, r.EventID),
	}, nil
}

// nilIfEmpty: in a rotation, no networks means the old token's.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
