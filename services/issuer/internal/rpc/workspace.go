package rpc

import (
	"context"
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Workspace implements gatepass.v1.WorkspaceService.
type Workspace struct {
	gatepassv1.UnimplementedWorkspaceServiceServer
	*Deps
}

// GetWorkspace implements WorkspaceService.
func (s *Workspace) GetWorkspace(ctx context.Context, _ *gatepassv1.GetWorkspaceRequest) (*gatepassv1.GetWorkspaceResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleViewer); err != nil {
		return nil, toStatus(err, "")
	}
	var w *gatepassv1.Workspace
	err := s.Store.View(func(tx *store.Tx) (err error) {
		w, err = tx.Workspace(p.WorkspaceID)
		return err
	})
	if err != nil {
		return nil, toStatus(err, "workspace")
	}
	return &gatepassv1.GetWorkspaceResponse{Workspace: w}, nil
}

// CreateProject implements WorkspaceService.
func (s *Workspace) CreateProject(ctx context.Context, req *gatepassv1.CreateProjectRequest) (*gatepassv1.CreateProjectResponse, error) {
	p := principal(ctx)
	if err := p.CanManageMember(access.RoleNone, access.RoleNone); err != nil {
		return nil, toStatus(err, "")
	}
	prj := &gatepassv1.Project{
		Id:          store.NewID("prj", s.Now()),
		WorkspaceId: p.WorkspaceID,
		Name:        req.GetName(),
		CreateTime:  timestamppb.New(s.Now()),
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.PutProject(prj); err != nil {
			return err
		}
		return tx.Audit(s.audit(p, "project.create", prj.GetId()))
	})
	if err != nil {
		return nil, toStatus(err, "project")
	}
	s.Publisher.Notify()
	return &gatepassv1.CreateProjectResponse{Project: prj}, nil
}

// ListProjects implements WorkspaceService.
func (s *Workspace) ListProjects(ctx context.Context, _ *gatepassv1.ListProjectsRequest) (*gatepassv1.ListProjectsResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleViewer); err != nil {
		return nil, toStatus(err, "")
	}
	resp := &gatepassv1.ListProjectsResponse{}
	err := s.Store.View(func(tx *store.Tx) error {
		all, err := tx.Projects(p.WorkspaceID)
		for _, prj := range all {
			if p.CanSee(prj.GetWorkspaceId(), prj.GetId()) {
				resp.Projects = append(resp.Projects, prj)
			}
		}
		return err
	})
	return resp, toStatus(err, "project")
}

// AddMember implements WorkspaceService.
func (s *Workspace) AddMember(ctx context.Context, req *gatepassv1.AddMemberRequest) (*gatepassv1.AddMemberResponse, error) {
	p := principal(ctx)
	if err := p.CanManageMember(access.RoleNone, access.Role(req.GetRole())); err != nil {
		return nil, toStatus(err, "")
	}
	now := timestamppb.New(s.Now())
	m := &gatepassv1.Member{
		Id:          store.NewID("mem", s.Now()),
		WorkspaceId: p.WorkspaceID,
		DisplayName: req.GetDisplayName(),
		Email:       req.GetEmail(),
		Role:        req.GetRole(),
		State:       gatepassv1.MemberState_MEMBER_STATE_ACTIVE,
		CreateTime:  now,
		UpdateTime:  now,
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutMember(m); err != nil {
			return err
		}
		return tx.Audit(s.audit(p, "member.add", m.GetId()))
	})
	if err != nil {
		return nil, toStatus(err, "member")
	}
	s.Publisher.Notify()
	return &gatepassv1.AddMemberResponse{Member: m}, nil
}

// ListMembers implements WorkspaceService.
func (s *Workspace) ListMembers(ctx context.Context, _ *gatepassv1.ListMembersRequest) (*gatepassv1.ListMembersResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleViewer); err != nil {
		return nil, toStatus(err, "")
	}
	resp := &gatepassv1.ListMembersResponse{}
	err := s.Store.View(func(tx *store.Tx) (err error) {
		resp.Members, err = tx.Members(p.WorkspaceID)
		return err
	})
	if p.RequireRole(access.RoleAdmin) != nil {
		// Email addresses are personal data: admins manage members, the
		// rest only need to know who is who.
		for _, m := range resp.Members {
			m.Email = ""
		}
	}
	return resp, toStatus(err, "member")
}

// UpdateMemberRole implements WorkspaceService. Lowering a member's role
// caps every token they own at the new role, in the same transaction, and
// waits for the validators as any change does: a demoted admin's tokens
// stop passing admin checks everywhere before the call returns.
func (s *Workspace) UpdateMemberRole(ctx context.Context, req *gatepassv1.UpdateMemberRoleRequest) (*gatepassv1.UpdateMemberRoleResponse, error) {
	m, events, err := s.changeMember(ctx, req.GetMemberId(), "member.update_role", func(m *gatepassv1.Member) {
		m.Role = req.GetRole()
	})
	if err != nil {
		return nil, err
	}
	resp := &gatepassv1.UpdateMemberRoleResponse{Member: m, TokensCapped: int32(len(events))}
	if len(events) > 0 {
		resp.Receipt = s.propagate(ctx, events[len(events)-1])
	}
	return resp, nil
}

// RemoveMember implements WorkspaceService. The member's active tokens are
// disabled, and the call waits for the validators, unless the workspace
// policy keeps them working (review then flags them).
func (s *Workspace) RemoveMember(ctx context.Context, req *gatepassv1.RemoveMemberRequest) (*gatepassv1.RemoveMemberResponse, error) {
	m, events, err := s.changeMember(ctx, req.GetMemberId(), "member.remove", func(m *gatepassv1.Member) {
		m.State = gatepassv1.MemberState_MEMBER_STATE_REMOVED
	})
	if err != nil {
		return nil, err
	}
	resp := &gatepassv1.RemoveMemberResponse{Member: m, TokensDisabled: int32(len(events))}
	if len(events) > 0 {
		resp.Receipt = s.propagate(ctx, events[len(events)-1])
	}
	return resp, nil
}

// restrictTokensOf brings a member's tokens in line with the member after a
// change: removed, their active tokens are disabled (unless the policy keeps
// them); demoted, their tokens' roles are capped at the new role. It
// returns the events written.
func (s *Workspace) restrictTokensOf(tx *store.Tx, p access.Principal, m *gatepassv1.Member) ([]string, error) {
	removed := m.GetState() == gatepassv1.MemberState_MEMBER_STATE_REMOVED
	if removed {
		pol, err := tx.Policy(m.GetWorkspaceId())
		if err != nil || pol.GetKeepTokensOfRemovedMembers() {
			return nil, err
		}
	}
	tokens, err := tx.TokensOf(m.GetId())
	if err != nil {
		return nil, err
	}
	var events []string
	for _, st := range tokens {
		t := st.GetToken()
		if t.GetWorkspaceId() != m.GetWorkspaceId() || t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			continue
		}
		var id string
		switch {
		case removed && t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE:
			id, err = applyChange(tx, s.Deps, st, access.Disable, "owner removed from the workspace", auditOf(p, "", "", "", ""))
		case !removed && t.GetRole() > m.GetRole():
			t.Role = m.GetRole()
			if id, err = tx.PutToken(st); err == nil {
				a := auditOf(p, "", "", "", "")
				a.WorkspaceId, a.Action, a.TargetId = t.GetWorkspaceId(), "token.role_capped", t.GetId()
				a.Reason = "owner's role lowered to " + strings.TrimPrefix(m.GetRole().String(), "ROLE_")
				err = tx.Audit(a)
			}
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		events = append(events, id)
	}
	return events, nil
}

// GetPolicy implements WorkspaceService.
func (s *Workspace) GetPolicy(ctx context.Context, _ *gatepassv1.GetPolicyRequest) (*gatepassv1.GetPolicyResponse, error) {
	p := principal(ctx)
	if err := p.RequireRole(access.RoleViewer); err != nil {
		return nil, toStatus(err, "")
	}
	var pol *gatepassv1.Policy
	err := s.Store.View(func(tx *store.Tx) (err error) {
		pol, err = tx.Policy(p.WorkspaceID)
		return err
	})
	if err != nil {
		return nil, toStatus(err, "policy")
	}
	return &gatepassv1.GetPolicyResponse{Policy: policy.Effective(pol)}, nil
}

// UpdatePolicy implements WorkspaceService.
func (s *Workspace) UpdatePolicy(ctx context.Context, req *gatepassv1.UpdatePolicyRequest) (*gatepassv1.UpdatePolicyResponse, error) {
	p := principal(ctx)
	if err := p.CanManageMember(access.RoleOwner, access.RoleOwner); err != nil {
		return nil, toStatus(err, "")
	}
	if err := policy.Validate(req.GetPolicy()); err != nil {
		return nil, toStatus(err, "")
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutPolicy(p.WorkspaceID, req.GetPolicy()); err != nil {
			return err
		}
		return tx.Audit(s.audit(p, "policy.update", p.WorkspaceID))
	})
	if err != nil {
		return nil, toStatus(err, "policy")
	}
	s.Publisher.Notify()
	return &gatepassv1.UpdatePolicyResponse{Policy: policy.Effective(req.GetPolicy())}, nil
}

// changeMember applies edit to an active member of the caller's workspace,
// refusing changes above the caller's role or that leave no active owner.
func (s *Workspace) changeMember(ctx context.Context, id, action string, edit func(*gatepassv1.Member)) (*gatepassv1.Member, []string, error) {
	p := principal(ctx)
	var m *gatepassv1.Member
	var events []string
	err := s.Store.Update(func(tx *store.Tx) error {
		var err error
		m, err = tx.Member(id)
		if err != nil {
			return err
		}
		if m.GetWorkspaceId() != p.WorkspaceID {
			return store.ErrNotFound
		}
		if m.GetState() != gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
			return fmt.Errorf("%w: member was removed", errPrecondition)
		}
		current := access.Role(m.GetRole())
		edit(m)
		if err := p.CanManageMember(current, access.Role(m.GetRole())); err != nil {
			return err
		}
		if err := keepsAnOwner(tx, m); err != nil {
			return err
		}
		m.UpdateTime = timestamppb.New(s.Now())
		if err := tx.PutMember(m); err != nil {
			return err
		}
		if err := tx.Audit(s.audit(p, action, m.GetId())); err != nil {
			return err
		}
		if m.GetState() == gatepassv1.MemberState_MEMBER_STATE_REMOVED || m.GetRole() < gatepassv1.Role(current) {
			events, err = s.restrictTokensOf(tx, p, m)
		}
		return err
	})
	if err != nil {
		return nil, nil, toStatus(err, "member")
	}
	s.Publisher.Notify()
	return m, events, nil
}

// keepsAnOwner fails when changed would leave its workspace without an
// active owner.
func keepsAnOwner(tx *store.Tx, changed *gatepassv1.Member) error {
	members, err := tx.Members(changed.GetWorkspaceId())
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.GetId() == changed.GetId() {
			m = changed
		}
		if m.GetRole() == gatepassv1.Role_ROLE_OWNER && m.GetState() == gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
			return nil
		}
	}
	return fmt.Errorf("%w: the workspace must keep an active owner", errPrecondition)
}

func (s *Workspace) audit(p access.Principal, action, target string) *gatepassv1.AuditEvent {
	return &gatepassv1.AuditEvent{
		WorkspaceId: p.WorkspaceID, ActorTokenId: p.TokenID, ActorMemberId: p.MemberID,
		Action: action, TargetId: target,
	}
}
