package lifecycle

import (
	"context"
	"fmt"
	"net"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/notify"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// mayManageWebhooks: webhooks see every notice of the workspace, so only
// admins holding a workspace token manage them.
func mayManageWebhooks(p access.Principal) error {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return err
	}
	if p.ProjectID != "" {
		return fmt.Errorf("%w: webhooks need a workspace token", access.ErrForbidden)
	}
	return nil
}

// CreateWebhook registers an endpoint for the notices of types (all when
// empty) and returns it with its signing secret, to be shown once. The URL
// must be https and reach only public addresses, unless the workspace
// policy allows private targets.
func (s *Service) CreateWebhook(ctx context.Context, p access.Principal, url string, types []gatepassv1.NoticeType) (*gatepassv1.Webhook, string, error) {
	if err := mayManageWebhooks(p); err != nil {
		return nil, "", err
	}
	var pol *gatepassv1.Policy
	if err := s.Store.View(func(tx *store.Tx) (err error) { pol, err = tx.Policy(p.WorkspaceID); return err }); err != nil {
		return nil, "", err
	}
	if err := notify.CheckURL(ctx, url, pol.GetAllowPrivateWebhookTargets(), net.DefaultResolver); err != nil {
		return nil, "", &policy.Violation{Field: "url", Msg: err.Error()}
	}
	key, printed, err := notify.NewSecret()
	if err != nil {
		return nil, "", err
	}
	now := s.Now()
	w := &gatepassv1.Webhook{
		Id: store.NewID("whk", now), WorkspaceId: p.WorkspaceID, Url: url, Types: types,
		CreateTime: timestamppb.New(now), CreatedBy: p.TokenID,
	}
	err = s.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutWebhook(&gatepassv1.WebhookRecord{Webhook: w, Secret: key}); err != nil {
			return err
		}
		return tx.Audit(auditOf(p, "webhook.create", w.GetId(), "", p.WorkspaceID))
	})
	if err != nil {
		return nil, "", err
	}
	s.notify()
	return w, printed, nil
}

// Webhooks lists the workspace's endpoints with their pending deliveries.
func (s *Service) Webhooks(p access.Principal) ([]*gatepassv1.Webhook, error) {
	if err := mayManageWebhooks(p); err != nil {
		return nil, err
	}
	var out []*gatepassv1.Webhook
	err := s.Store.View(func(tx *store.Tx) error {
		hooks, err := tx.Webhooks(p.WorkspaceID)
		if err != nil {
			return err
		}
		for _, h := range hooks {
			w := h.GetWebhook()
			ds, err := tx.Deliveries(w.GetId(), maxPendingCounted)
			if err != nil {
				return err
			}
			for _, d := range ds {
				if d.GetState() == gatepassv1.DeliveryState_DELIVERY_STATE_PENDING {
					w.Pending++
				}
			}
			out = append(out, w)
		}
		return nil
	})
	return out, err
}

// maxPendingCounted bounds the deliveries ListWebhooks looks at per
// endpoint: the newest, where pending ones are.
const maxPendingCounted = 1000

// DeleteWebhook removes an endpoint and its deliveries.
func (s *Service) DeleteWebhook(p access.Principal, id string) error {
	if err := mayManageWebhooks(p); err != nil {
		return err
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.DeleteWebhook(p.WorkspaceID, id); err != nil {
			return err
		}
		return tx.Audit(auditOf(p, "webhook.delete", id, "", p.WorkspaceID))
	})
	if err == nil {
		s.notify()
	}
	return err
}

// Deliveries lists an endpoint's deliveries, newest first.
func (s *Service) Deliveries(p access.Principal, id string, limit int) ([]*gatepassv1.WebhookDelivery, error) {
	if err := mayManageWebhooks(p); err != nil {
		return nil, err
	}
	var out []*gatepassv1.WebhookDelivery
	err := s.Store.View(func(tx *store.Tx) error {
		if _, err := tx.Webhook(p.WorkspaceID, id); err != nil {
			return err
		}
		var err error
		out, err = tx.Deliveries(id, limit)
		return err
	})
	return out, err
}
