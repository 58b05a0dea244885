package rpc

import (
	"context"
	"fmt"
	"slices"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Scheduled actions stored with store.Schedule.
const (
	scheduleDisable byte = 'd'
	scheduleRevoke  byte = 'r'
)

// UpdateToken implements IssuerService.
func (s *Issuer) UpdateToken(ctx context.Context, req *gatepassv1.UpdateTokenRequest) (*gatepassv1.UpdateTokenResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	var t *gatepassv1.Token
	err := s.Store.Update(func(tx *store.Tx) error {
		st, err := tx.Token(req.GetTokenId())
		if err != nil {
			return err
		}
		t = st.GetToken()
		if !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) {
			return store.ErrNotFound
		}
		if access.Role(t.GetRole()) > p.Role {
			return fmt.Errorf("%w: cannot update a token whose role is above your own", access.ErrForbidden)
		}
		if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			return fmt.Errorf("%w: the token is revoked", errPrecondition)
		}
		paths := req.GetUpdateMask().GetPaths()
		var changes []string
		if slices.Contains(paths, "name") && req.GetName() != t.GetName() {
			pol, err := tx.Policy(t.GetWorkspaceId())
			if err != nil {
				return err
			}
			if err := checkNewName(tx, pol, t.GetWorkspaceId(), "name", req.GetName(), t.GetId()); err != nil {
				return err
			}
			changes = append(changes, fmt.Sprintf("name %q -> %q", t.GetName(), req.GetName()))
			t.Name = req.GetName()
		}
		if slices.Contains(paths, "description") && req.GetDescription() != t.GetDescription() {
			changes = append(changes, "description")
			t.Description = req.GetDescription()
		}
		if slices.Contains(paths, "owner_id") && req.GetOwnerId() != t.GetOwnerId() {
			if err := checkOwner(tx, t.GetWorkspaceId(), req.GetOwnerId(), t.GetRole()); err != nil {
				return err
			}
			changes = append(changes, fmt.Sprintf("owner %s -> %s", t.GetOwnerId(), req.GetOwnerId()))
			t.OwnerId = req.GetOwnerId()
		}
		if len(changes) == 0 {
			return nil
		}
		if _, err := tx.PutToken(st); err != nil {
			return err
		}
		a := auditOf(p, "token.update", t.GetId(), "", t.GetWorkspaceId())
		a.Details = map[string]string{"changes": fmt.Sprint(changes)}
		return tx.Audit(a)
	})
	if err != nil {
		return nil, toStatus(err, "token or owner")
	}
	s.Publisher.Notify()
	return &gatepassv1.UpdateTokenResponse{Token: t}, nil
}

// RotateToken implements IssuerService.
func (s *Issuer) RotateToken(ctx context.Context, req *gatepassv1.RotateTokenRequest) (*gatepassv1.RotateTokenResponse, error) {
	p := principal(ctx)
	sec, err := s.Format.Mint()
	if err != nil {
		return nil, toStatus(err, "")
	}
	now := s.Now()
	var fresh, old *gatepassv1.Token
	var lastEvent string
	err = s.Store.Update(func(tx *store.Tx) error {
		st, err := tx.Token(req.GetTokenId())
		if err != nil {
			return err
		}
		old = st.GetToken()
		self := old.GetId() == p.TokenID && old.GetSelfRotate()
		if !self {
			if err := p.RequireRole(access.RoleAdmin); err != nil {
				return err
			}
			if !p.CanSee(old.GetWorkspaceId(), old.GetProjectId()) {
				return store.ErrNotFound
			}
			if access.Role(old.GetRole()) > p.Role {
				return fmt.Errorf("%w: cannot rotate a token whose role is above your own", access.ErrForbidden)
			}
		}
		switch {
		case old.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
			return fmt.Errorf("%w: a revoked token cannot be rotated; create a new one", errPrecondition)
		case old.GetReplacedByTokenId() != "":
			return fmt.Errorf("%w: already rotated to %s", errPrecondition, old.GetReplacedByTokenId())
		}
		if err := checkOwner(tx, old.GetWorkspaceId(), old.GetOwnerId(), old.GetRole()); err != nil {
			return fmt.Errorf("%w (transfer the token to an active owner first)", err)
		}
		pol, err := tx.Policy(old.GetWorkspaceId())
		if err != nil {
			return err
		}
		name := old.GetName()
		if req.GetName() != "" {
			name = req.GetName()
		}
		if err := checkNewName(tx, pol, old.GetWorkspaceId(), "name", name, old.GetId()); err != nil {
			return err
		}
		expire, never := req.GetExpireTime(), false
		if expire == nil {
			if old.GetNeverExpires() {
				never = true
			} else {
				lifetime := old.GetExpireTime().AsTime().Sub(old.GetCreateTime().AsTime())
				expire = timestamppb.New(now.Add(lifetime))
			}
		}
		if expire, never, err = policy.Expiry(pol, now, expire, never); err != nil {
			return err
		}
		fresh, _, err = putNewToken(tx, s.Deps, sec, &gatepassv1.Token{
			Name:            name,
			Description:     old.GetDescription(),
			WorkspaceId:     old.GetWorkspaceId(),
			ProjectId:       old.GetProjectId(),
			Role:            old.GetRole(),
			OwnerId:         old.GetOwnerId(),
			CreatedBy:       p.TokenID,
			ExpireTime:      expire,
			NeverExpires:    never,
			AllowedCidrs:    old.GetAllowedCidrs(),
			SelfRotate:      old.GetSelfRotate(),
			ReplacesTokenId: old.GetId(),
		}, p)
		if err != nil {
			return err
		}
		old.ReplacedByTokenId = fresh.GetId()
		if self {
			// A self-rotation always ends the old token within the overlap
			// the workspace allows: a leaked token cannot mint a lasting
			// second credential.
			limit := policy.Effective(pol).GetMaxRotationOverlap()
			if d := req.GetRevokeOldAfter(); d == nil || d.AsDuration() > limit.AsDuration() {
				req.RevokeOldAfter = limit
			}
			if d := req.GetDisableOldAfter(); d != nil && d.AsDuration() > req.GetRevokeOldAfter().AsDuration() {
				req.DisableOldAfter = nil
			}
		}
		if d := req.GetDisableOldAfter(); d != nil {
			at := now.Add(d.AsDuration())
			old.ScheduledDisableTime = timestamppb.New(at)
			if err := tx.Schedule(at, scheduleDisable, old.GetId()); err != nil {
				return err
			}
		}
		if d := req.GetRevokeOldAfter(); d != nil {
			at := now.Add(d.AsDuration())
			old.ScheduledRevokeTime = timestamppb.New(at)
			if err := tx.Schedule(at, scheduleRevoke, old.GetId()); err != nil {
				return err
			}
		}
		if lastEvent, err = tx.PutToken(st); err != nil {
			return err
		}
		a := auditOf(p, "token.rotate", old.GetId(), req.GetReason(), old.GetWorkspaceId())
		a.Details = map[string]string{"replaced_by": fresh.GetId()}
		for k, ts := range map[string]*timestamppb.Timestamp{"disable_at": old.GetScheduledDisableTime(), "revoke_at": old.GetScheduledRevokeTime()} {
			if ts != nil {
				a.Details[k] = ts.AsTime().UTC().Format(time.RFC3339)
			}
		}
		return tx.Audit(a)
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	s.Logger.InfoContext(ctx, "token rotated", "token_id", old.GetId(), "replaced_by", fresh.GetId(), "by", p.TokenID)
	// The old token's event was queued last: once it is applied, both are.
	return &gatepassv1.RotateTokenResponse{
		Token: fresh, Secret: sec.String(), OldToken: proto.CloneOf(old), Receipt: s.propagate(ctx, lastEvent),
	}, nil
}

// RunSchedules applies scheduled disables and revokes as they fall due,
// until ctx ends. Schedules live in the database, so they survive restarts;
// one missed while the issuer was down fires at the next start.
func (s *Issuer) RunSchedules(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := s.ApplyDue(); err != nil && ctx.Err() == nil {
			s.Logger.Error("apply scheduled changes", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ApplyDue applies every scheduled change due now.
func (s *Issuer) ApplyDue() error {
	due, err := s.Store.Due(s.Now())
	if err != nil || len(due) == 0 {
		return err
	}
	for _, d := range due {
		a := access.Disable
		if d.Action == scheduleRevoke {
			a = access.Revoke
		}
		err := s.Store.Update(func(tx *store.Tx) error {
			if err := tx.Unschedule(d); err != nil {
				return err
			}
			st, err := tx.Token(d.TokenID)
			if err != nil {
				return err
			}
			if _, err := access.Transition(access.Status(st.GetToken().GetStatus()), a); err != nil {
				return nil // already done by hand: nothing left to do
			}
			// A manual disable or revoke since cancelled the schedule: the
			// token no longer carries it.
			planned := st.GetToken().GetScheduledDisableTime()
			if a == access.Revoke {
				planned = st.GetToken().GetScheduledRevokeTime()
			}
			if planned == nil || !planned.AsTime().Equal(d.At) {
				return nil
			}
			actor := &gatepassv1.AuditEvent{Details: map[string]string{"by": "schedule", "due": d.At.UTC().Format(time.RFC3339)}}
			_, err = applyChange(tx, s.Deps, st, a, "scheduled by rotation", actor)
			return err
		})
		if err != nil {
			return fmt.Errorf("scheduled %s of %s: %w", a, d.TokenID, err)
		}
		s.Logger.Info("scheduled change applied", "action", a.String(), "token_id", d.TokenID)
	}
	s.Publisher.Notify()
	return nil
}
