package rpc

import (
	"context"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Issuer implements gatepass.v1.IssuerService.
type Issuer struct {
	gatepassv1.UnimplementedIssuerServiceServer
	*Deps
}

// CreateToken implements IssuerService.
func (s *Issuer) CreateToken(ctx context.Context, req *gatepassv1.CreateTokenRequest) (*gatepassv1.CreateTokenResponse, error) {
	p := principal(ctx)
	if err := p.CanGrant(req.GetProjectId(), access.Role(req.GetRole())); err != nil {
		return nil, toStatus(err, "")
	}
	sec, err := s.Format.Mint()
	if err != nil {
		return nil, toStatus(err, "")
	}
	var t *gatepassv1.Token
	var eventID string
	// Batch: concurrent creates share a commit; the function may run again.
	err = s.Store.Batch(func(tx *store.Tx) error {
		if pid := req.GetProjectId(); pid != "" {
			prj, err := tx.Project(pid)
			if err != nil {
				return err
			}
			if prj.GetWorkspaceId() != p.WorkspaceID {
				return fmt.Errorf("%w: project is in another workspace", access.ErrForbidden)
			}
		}
		owner := req.GetOwnerId()
		if owner == "" {
			owner = p.MemberID
		}
		if err := checkOwner(tx, p.WorkspaceID, owner, req.GetRole()); err != nil {
			return err
		}
		pol, err := tx.Policy(p.WorkspaceID)
		if err != nil {
			return err
		}
		if err := checkNewName(tx, pol, p.WorkspaceID, "name", req.GetName()); err != nil {
			return err
		}
		expire, never, err := policy.Expiry(pol, s.Now(), req.GetExpireTime(), req.GetNeverExpires())
		if err != nil {
			return err
		}
		t, eventID, err = putNewToken(tx, s.Deps, sec, &gatepassv1.Token{
			Name:         req.GetName(),
			Description:  req.GetDescription(),
			WorkspaceId:  p.WorkspaceID,
			ProjectId:    req.GetProjectId(),
			Role:         req.GetRole(),
			OwnerId:      owner,
			CreatedBy:    p.TokenID,
			ExpireTime:   expire,
			NeverExpires: never,
			AllowedCidrs: req.GetAllowedCidrs(),
			SelfRotate:   req.GetSelfRotate(),
		}, p)
		return err
	})
	if err != nil {
		return nil, toStatus(err, "project or owner")
	}
	s.Logger.InfoContext(ctx, "token created", "token_id", t.GetId(), "by", p.TokenID)
	return &gatepassv1.CreateTokenResponse{Token: t, Secret: sec.String(), Receipt: s.propagate(ctx, eventID)}, nil
}

// checkOwner requires an active member of the workspace whose role reaches
// the token's.
func checkOwner(tx *store.Tx, workspaceID, ownerID string, role gatepassv1.Role) error {
	m, err := tx.Member(ownerID)
	if err != nil || m.GetWorkspaceId() != workspaceID {
		return fmt.Errorf("owner member %w", store.ErrNotFound)
	}
	if m.GetState() != gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
		return fmt.Errorf("%w: owner is not an active member", errPrecondition)
	}
	if role > m.GetRole() {
		return fmt.Errorf("%w: the token's role is above the owner's role", errPrecondition)
	}
	return nil
}

// checkNewName applies the naming policy and requires the name to be
// unique among the workspace's live tokens, apart from except (the token
// being renamed or rotated) and tokens already rotated out.
func checkNewName(tx *store.Tx, pol *gatepassv1.Policy, workspaceID, field, name string, except ...string) error {
	if err := policy.CheckName(pol, field, name); err != nil {
		return err
	}
	// One lookup in the live-name index: O(log n) in the workspace's tokens.
	taken := tx.LiveTokenNamed(workspaceID, name)
	for _, id := range except {
		if taken == id {
			taken = ""
		}
	}
	if taken != "" {
		return fmt.Errorf("%w: a live token named %q exists (%s)", errNameTaken, name, taken)
	}
	return nil
}

// putNewToken stores a new active token for sec and audits it.
func putNewToken(tx *store.Tx, d *Deps, sec token.Secret, t *gatepassv1.Token, by access.Principal) (*gatepassv1.Token, string, error) {
	now := d.Now()
	t.Id = store.NewID("tok", now)
	t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
	t.CreateTime = timestamppb.New(now)
	t.SecretHint = sec.Hint()
	digest := sec.Digest()
	st := &gatepassv1.TokenState{Token: t, SecretSha256: digest[:]}
	eventID, err := tx.PutToken(st)
	if err != nil {
		return nil, "", err
	}
	err = tx.Audit(auditOf(by, "token.create", t.GetId(), "", t.GetWorkspaceId()))
	return proto.CloneOf(t), eventID, err
}

func auditOf(p access.Principal, action, target, reason, workspaceID string) *gatepassv1.AuditEvent {
	return &gatepassv1.AuditEvent{
		WorkspaceId: workspaceID, ActorTokenId: p.TokenID, ActorMemberId: p.MemberID,
		Action: action, TargetId: target, Reason: reason,
	}
}

// withUsage returns t with the usage statistics validators reported.
func withUsage(tx *store.Tx, t *gatepassv1.Token) (*gatepassv1.Token, error) {
	u, err := tx.Usage(t.GetId())
	if err != nil {
		return nil, err
	}
	t = proto.CloneOf(t)
	t.UseCount = u.GetUseCount()
	t.LastUsedTime = u.GetLastUsedTime()
	t.LastUsedIp = u.GetLastUsedIp()
	return t, nil
}

// GetToken implements IssuerService.
func (s *Issuer) GetToken(ctx context.Context, req *gatepassv1.GetTokenRequest) (*gatepassv1.GetTokenResponse, error) {
	p := principal(ctx)
	var t *gatepassv1.Token
	err := s.Store.View(func(tx *store.Tx) error {
		st, err := tx.Token(req.GetTokenId())
		if err != nil {
			return err
		}
		// Admins see their scope; any token may read itself.
		if st.GetToken().GetId() != p.TokenID {
			if err := p.RequireRole(access.RoleAdmin); err != nil {
				return err
			}
			if !p.CanSee(st.GetToken().GetWorkspaceId(), st.GetToken().GetProjectId()) {
				return store.ErrNotFound
			}
		}
		t, err = withUsage(tx, st.GetToken())
		return err
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	return &gatepassv1.GetTokenResponse{Token: t}, nil
}

// ListTokens implements IssuerService.
func (s *Issuer) ListTokens(ctx context.Context, req *gatepassv1.ListTokensRequest) (*gatepassv1.ListTokensResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	after := ""
	if req.GetPageToken() != "" {
		after, _ = decodePageToken(req.GetPageToken()) // checked by Validator
	}
	resp := &gatepassv1.ListTokensResponse{}
	more := false
	err := s.Store.View(func(tx *store.Tx) error {
		// The narrowest index that answers the request: O(log n + k).
		scan, of := tx.ScanTokens, p.WorkspaceID
		switch {
		case req.GetProjectId() != "":
			scan, of = tx.ScanProjectTokens, req.GetProjectId()
		case req.GetOwnerId() != "":
			scan, of = tx.ScanOwnerTokens, req.GetOwnerId()
		}
		var err error
		scanErr := scan(of, after, func(t *gatepassv1.Token) bool {
			if t.GetWorkspaceId() != p.WorkspaceID || !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) ||
				(req.GetProjectId() != "" && t.GetProjectId() != req.GetProjectId()) ||
				(req.GetStatus() != 0 && t.GetStatus() != req.GetStatus()) ||
				(req.GetOwnerId() != "" && t.GetOwnerId() != req.GetOwnerId()) {
				return true
			}
			if len(resp.Tokens) == size {
				more = true
				return false
			}
			t, err = withUsage(tx, t)
			resp.Tokens = append(resp.Tokens, t)
			return err == nil
		})
		if err != nil {
			return err
		}
		return scanErr
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	if more {
		resp.NextPageToken = encodePageToken(resp.Tokens[len(resp.Tokens)-1].GetId())
	}
	return resp, nil
}

// DisableToken implements IssuerService.
func (s *Issuer) DisableToken(ctx context.Context, req *gatepassv1.DisableTokenRequest) (*gatepassv1.DisableTokenResponse, error) {
	t, r, err := s.change(ctx, req.GetTokenId(), req.GetReason(), access.Disable)
	if err != nil {
		return nil, err
	}
	return &gatepassv1.DisableTokenResponse{Token: t, Receipt: r}, nil
}

// EnableToken implements IssuerService.
func (s *Issuer) EnableToken(ctx context.Context, req *gatepassv1.EnableTokenRequest) (*gatepassv1.EnableTokenResponse, error) {
	t, r, err := s.change(ctx, req.GetTokenId(), req.GetReason(), access.Enable)
	if err != nil {
		return nil, err
	}
	return &gatepassv1.EnableTokenResponse{Token: t, Receipt: r}, nil
}

// RevokeToken implements IssuerService. With cascade, every successor
// created by rotation from the token is revoked in the same transaction.
func (s *Issuer) RevokeToken(ctx context.Context, req *gatepassv1.RevokeTokenRequest) (*gatepassv1.RevokeTokenResponse, error) {
	if !req.GetCascade() {
		t, r, err := s.change(ctx, req.GetTokenId(), req.GetReason(), access.Revoke)
		if err != nil {
			return nil, err
		}
		return &gatepassv1.RevokeTokenResponse{Token: t, Receipt: r}, nil
	}
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, toStatus(err, "")
	}
	resp := &gatepassv1.RevokeTokenResponse{}
	var eventID string
	err := s.Store.Update(func(tx *store.Tx) error {
		resp.RevokedSuccessorIds = nil
		seen := map[string]bool{}
		for id := req.GetTokenId(); id != "" && !seen[id]; {
			seen[id] = true
			st, err := tx.Token(id)
			if err != nil {
				return err
			}
			t := st.GetToken()
			if err := mayChange(p, t, access.Revoke); err != nil {
				return err
			}
			if t.GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
				reason := req.GetReason()
				if id != req.GetTokenId() {
					reason = "cascade from " + req.GetTokenId() + ": " + reason
				}
				if eventID, err = applyChange(tx, s.Deps, st, access.Revoke, reason, auditOf(p, "", "", "", "")); err != nil {
					return err
				}
				if id != req.GetTokenId() {
					resp.RevokedSuccessorIds = append(resp.RevokedSuccessorIds, id)
				}
			}
			if id == req.GetTokenId() {
				resp.Token = t
			}
			id = t.GetReplacedByTokenId()
		}
		return nil
	})
	if err != nil {
		return nil, toStatus(err, "token")
	}
	s.Logger.InfoContext(ctx, "token revoked with its successors", "token_id", req.GetTokenId(), "successors", len(resp.GetRevokedSuccessorIds()), "by", p.TokenID)
	if eventID != "" {
		resp.Receipt = s.propagate(ctx, eventID)
	}
	return resp, nil
}

// change applies a lifecycle action asked by the caller, commits it with
// its event and audit record, and waits for propagation.
func (s *Issuer) change(ctx context.Context, tokenID, reason string, a access.Action) (*gatepassv1.Token, *gatepassv1.PropagationReceipt, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, nil, toStatus(err, "")
	}
	var t *gatepassv1.Token
	var eventID string
	err := s.Store.Batch(func(tx *store.Tx) error {
		st, err := tx.Token(tokenID)
		if err != nil {
			return err
		}
		if err := mayChange(p, st.GetToken(), a); err != nil {
			return err
		}
		eventID, err = applyChange(tx, s.Deps, st, a, reason, auditOf(p, "", "", "", ""))
		t = st.GetToken()
		return err
	})
	if err != nil {
		return nil, nil, toStatus(err, "token")
	}
	s.Logger.InfoContext(ctx, "token changed", "action", a.String(), "token_id", t.GetId(), "by", p.TokenID)
	return t, s.propagate(ctx, eventID), nil
}

// mayChange checks that p may apply a to t: t is in p's scope (else it is
// not found), and not above p's role unless it is p's own token.
func mayChange(p access.Principal, t *gatepassv1.Token, a access.Action) error {
	if !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) {
		return store.ErrNotFound
	}
	if access.Role(t.GetRole()) > p.Role && t.GetId() != p.TokenID {
		return fmt.Errorf("%w: cannot %s a token whose role is above your own", access.ErrForbidden, a)
	}
	return nil
}

// applyChange moves st through action a, stores it with its event, and
// audits it with actor's identity. A disable clears a scheduled disable; a
// revoke clears every schedule.
func applyChange(tx *store.Tx, d *Deps, st *gatepassv1.TokenState, a access.Action, reason string, actor *gatepassv1.AuditEvent) (string, error) {
	t := st.GetToken()
	next, err := access.Transition(access.Status(t.GetStatus()), a)
	if err != nil {
		return "", err
	}
	now := timestamppb.New(d.Now())
	t.Status = gatepassv1.TokenStatus(next)
	t.StatusReason = reason
	switch a {
	case access.Disable:
		t.DisableTime = now
		t.ScheduledDisableTime = nil
	case access.Enable:
		t.DisableTime = nil
	case access.Revoke:
		t.RevokeTime = now
		t.ScheduledDisableTime, t.ScheduledRevokeTime = nil, nil
	}
	eventID, err := tx.PutToken(st)
	if err != nil {
		return "", err
	}
	actor.WorkspaceId, actor.Action, actor.TargetId, actor.Reason = t.GetWorkspaceId(), "token."+a.String(), t.GetId(), reason
	return eventID, tx.Audit(actor)
}
