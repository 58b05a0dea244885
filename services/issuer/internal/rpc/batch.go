package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
)

// BatchDisableTokens implements IssuerService.
func (s *Issuer) BatchDisableTokens(ctx context.Context, req *gatepassv1.BatchDisableTokensRequest) (*gatepassv1.BatchDisableTokensResponse, error) {
	tokens, receipt, err := s.batch(ctx, access.Disable, lifecycle.Batch{
		IDs: req.GetTokenIds(), Filter: req.GetFilter(), Reason: req.GetReason(), ValidateOnly: req.GetValidateOnly(),
	})
	if err != nil {
		return nil, err
	}
	return &gatepassv1.BatchDisableTokensResponse{Tokens: tokens, Receipt: receipt}, nil
}

// BatchRevokeTokens implements IssuerService.
func (s *Issuer) BatchRevokeTokens(ctx context.Context, req *gatepassv1.BatchRevokeTokensRequest) (*gatepassv1.BatchRevokeTokensResponse, error) {
	tokens, receipt, err := s.batch(ctx, access.Revoke, lifecycle.Batch{
		IDs: req.GetTokenIds(), Filter: req.GetFilter(), Reason: req.GetReason(), ValidateOnly: req.GetValidateOnly(),
	})
	if err != nil {
		return nil, err
	}
	return &gatepassv1.BatchRevokeTokensResponse{Tokens: tokens, Receipt: receipt}, nil
}

// batch runs a batch action and waits for its one receipt.
func (s *Issuer) batch(ctx context.Context, a access.Action, b lifecycle.Batch) ([]*gatepassv1.Token, *gatepassv1.PropagationReceipt, error) {
	out, err := s.Lifecycle.BatchChange(principal(ctx), a, b)
	if err != nil {
		return nil, nil, toStatus(err, "token")
	}
	if out.EventID == "" {
		return out.Tokens, nil, nil
	}
	// The events of one transaction are published in order: once the last
	// is applied, every one is.
	return out.Tokens, s.propagate(ctx, out.EventID), nil
}
