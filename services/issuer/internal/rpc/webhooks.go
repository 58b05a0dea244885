package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// CreateWebhook implements WorkspaceService.
func (s *Workspace) CreateWebhook(ctx context.Context, req *gatepassv1.CreateWebhookRequest) (*gatepassv1.CreateWebhookResponse, error) {
	w, secret, err := s.Lifecycle.CreateWebhook(ctx, principal(ctx), req.GetUrl(), req.GetTypes())
	if err != nil {
		return nil, toStatus(err, "webhook")
	}
	return &gatepassv1.CreateWebhookResponse{Webhook: w, Secret: secret}, nil
}

// ListWebhooks implements WorkspaceService.
func (s *Workspace) ListWebhooks(ctx context.Context, _ *gatepassv1.ListWebhooksRequest) (*gatepassv1.ListWebhooksResponse, error) {
	ws, err := s.Lifecycle.Webhooks(principal(ctx))
	if err != nil {
		return nil, toStatus(err, "webhook")
	}
	return &gatepassv1.ListWebhooksResponse{Webhooks: ws}, nil
}

// DeleteWebhook implements WorkspaceService.
func (s *Workspace) DeleteWebhook(ctx context.Context, req *gatepassv1.DeleteWebhookRequest) (*gatepassv1.DeleteWebhookResponse, error) {
	if err := s.Lifecycle.DeleteWebhook(principal(ctx), req.GetWebhookId()); err != nil {
		return nil, toStatus(err, "webhook")
	}
	return &gatepassv1.DeleteWebhookResponse{}, nil
}

// ListWebhookDeliveries implements WorkspaceService.
func (s *Workspace) ListWebhookDeliveries(ctx context.Context, req *gatepassv1.ListWebhookDeliveriesRequest) (*gatepassv1.ListWebhookDeliveriesResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	ds, err := s.Lifecycle.Deliveries(principal(ctx), req.GetWebhookId(), size)
	if err != nil {
		return nil, toStatus(err, "webhook")
	}
	return &gatepassv1.ListWebhookDeliveriesResponse{Deliveries: ds}, nil
}
