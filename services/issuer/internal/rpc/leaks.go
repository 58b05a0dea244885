package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
)

// ReportLeakedTokens implements IssuerService.
func (s *Issuer) ReportLeakedTokens(ctx context.Context, req *gatepassv1.ReportLeakedTokensRequest) (*gatepassv1.ReportLeakedTokensResponse, error) {
	out, err := s.Lifecycle.ReportLeaks(principal(ctx), lifecycle.Leak{
		Secrets: req.GetSecrets(), Digests: req.GetSecretSha256(), SourceURL: req.GetSourceUrl(),
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	resp := &gatepassv1.ReportLeakedTokensResponse{Results: out.Results}
	if out.EventID != "" {
		resp.Receipt = s.propagate(ctx, out.EventID)
	}
	return resp, nil
}
