package lifecycle

import (
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CreateProject adds a project to p's workspace (admins and above); its
// event lets validators map the project to the workspace.
func (s *Service) CreateProject(p access.Principal, name string) (*gatepassv1.Project, error) {
	if err := requireName("name", name); err != nil {
		return nil, err
	}
	if err := p.CanManageMember(access.RoleNone, access.RoleNone); err != nil {
		return nil, err
	}
	prj := &gatepassv1.Project{
		Id: store.NewID("prj", s.Now()), WorkspaceId: p.WorkspaceID,
		Name: name, CreateTime: timestamppb.New(s.Now()),
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.PutProject(prj); err != nil {
			return err
		}
		return tx.Audit(auditOf(p, "project.create", prj.GetId(), "", p.WorkspaceID))
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return prj, nil
}

// SetPolicy replaces the workspace's policy (owners only) once package
// policy finds it coherent, and returns it with defaults filled in.
func (s *Service) SetPolicy(p access.Principal, pol *gatepassv1.Policy) (*gatepassv1.Policy, error) {
	if err := p.CanManageMember(access.RoleOwner, access.RoleOwner); err != nil {
		return nil, err
	}
	if pol == nil {
		return nil, &policy.Violation{Field: "policy", Msg: "is required"}
	}
	if err := policy.Validate(pol); err != nil {
		return nil, err
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutPolicy(p.WorkspaceID, pol); err != nil {
			return err
		}
		return tx.Audit(auditOf(p, "policy.update", p.WorkspaceID, "", p.WorkspaceID))
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return policy.Effective(pol), nil
}
