package rpc

import (
	"context"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
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
	prj, err := s.Lifecycle.CreateProject(principal(ctx), req.GetName())
	if err != nil {
		return nil, toStatus(err, "project")
	}
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
	m, err := s.Lifecycle.AddMember(principal(ctx), req.GetDisplayName(), req.GetEmail(), req.GetRole())
	if err != nil {
		return nil, toStatus(err, "member")
	}
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
// caps every token they own, and the call waits for the validators as any
// change does: a demoted admin's tokens stop passing admin checks
// everywhere before it returns.
func (s *Workspace) UpdateMemberRole(ctx context.Context, req *gatepassv1.UpdateMemberRoleRequest) (*gatepassv1.UpdateMemberRoleResponse, error) {
	c, err := s.Lifecycle.SetMemberRole(principal(ctx), req.GetMemberId(), req.GetRole())
	if err != nil {
		return nil, toStatus(err, "member")
	}
	resp := &gatepassv1.UpdateMemberRoleResponse{Member: c.Member, TokensCapped: int32(len(c.Events))}
	if len(c.Events) > 0 {
		resp.Receipt = s.propagate(ctx, c.Events[len(c.Events)-1])
	}
	return resp, nil
}

// RemoveMember implements WorkspaceService. The member's active tokens are
// disabled, and the call waits for the validators, unless the workspace
// policy keeps them working (review then flags them).
func (s *Workspace) RemoveMember(ctx context.Context, req *gatepassv1.RemoveMemberRequest) (*gatepassv1.RemoveMemberResponse, error) {
	c, err := s.Lifecycle.RemoveMember(principal(ctx), req.GetMemberId())
	if err != nil {
		return nil, toStatus(err, "member")
	}
	resp := &gatepassv1.RemoveMemberResponse{Member: c.Member, TokensDisabled: int32(len(c.Events))}
	if len(c.Events) > 0 {
		resp.Receipt = s.propagate(ctx, c.Events[len(c.Events)-1])
	}
	return resp, nil
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
	pol, err := s.Lifecycle.SetPolicy(principal(ctx), req.GetPolicy())
	if err != nil {
		return nil, toStatus(err, "policy")
	}
	return &gatepassv1.UpdatePolicyResponse{Policy: pol}, nil
}
