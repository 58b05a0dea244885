package rpc

import (
	"context"
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// ReviewTokens implements IssuerService.
func (s *Issuer) ReviewTokens(ctx context.Context, req *gatepassv1.ReviewTokensRequest) (*gatepassv1.ReviewTokensResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	findings, pol, err := s.Lifecycle.Review(p, req.GetProjectId())
	if err != nil {
		return nil, toStatus(err, "token")
	}
	resp := &gatepassv1.ReviewTokensResponse{Policy: policy.Effective(pol).GetReview()}
	for _, f := range findings {
		if f.GetSeverity() >= req.GetMinSeverity() {
			resp.Findings = append(resp.Findings, f)
		}
	}
	return resp, nil
}

// ListAuditEvents implements IssuerService.
func (s *Issuer) ListAuditEvents(ctx context.Context, req *gatepassv1.ListAuditEventsRequest) (*gatepassv1.ListAuditEventsResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	if p.ProjectID != "" {
		return nil, toStatus(fmt.Errorf("%w: the audit trail needs a workspace token", access.ErrForbidden), "")
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	before, err := decodeAuditPageToken(req.GetPageToken())
	if err != nil {
		return nil, errBadPageToken
	}
	action, prefix := strings.CutSuffix(req.GetAction(), "*")
	resp := &gatepassv1.ListAuditEventsResponse{}
	more := false
	err = s.Store.View(func(tx *store.Tx) error {
		return tx.ScanAudit(p.WorkspaceID, before, func(a *gatepassv1.AuditEvent) bool {
			at := a.GetTime().AsTime()
			switch {
			case req.GetTargetId() != "" && a.GetTargetId() != req.GetTargetId(),
				req.GetActorTokenId() != "" && a.GetActorTokenId() != req.GetActorTokenId(),
				action != "" && !prefix && a.GetAction() != action,
				prefix && !strings.HasPrefix(a.GetAction(), action),
				req.GetEndTime() != nil && !at.Before(req.GetEndTime().AsTime()):
				return true
			case req.GetStartTime() != nil && at.Before(req.GetStartTime().AsTime()):
				return false // newest first: everything further is older
			}
			if len(resp.Events) == size {
				more = true
				return false
			}
			resp.Events = append(resp.Events, a)
			return true
		})
	})
	if err != nil {
		return nil, toStatus(err, "audit event")
	}
	if more {
		resp.NextPageToken = encodePageToken(resp.Events[len(resp.Events)-1].GetId())
	}
	return resp, nil
}
