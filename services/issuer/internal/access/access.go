// Package access holds gatepass's authorization rules: the role ladder,
// what a caller may see and change, and the token state machine. It is pure
// domain code: no gRPC, NATS or bbolt.
package access

import (
	"errors"
	"fmt"
)

// Role is a step on the ladder; higher values hold every lower right. The
// values match gatepass.v1.Role.
type Role int32

// The ladder, lowest first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleTester
	RoleMaintainer
	RoleAdmin
	RoleOwner
)

// Valid reports whether r is a rung of the ladder.
func (r Role) Valid() bool { return r >= RoleViewer && r <= RoleOwner }

// ErrForbidden is returned when an authenticated caller may not do something.
var ErrForbidden = errors.New("permission denied")

// Principal is an authenticated caller: a token acting for its owner.
type Principal struct {
	TokenID     string
	MemberID    string
	WorkspaceID string
	// ProjectID is empty for a workspace token.
	ProjectID string
	// Role is the token's role capped by its owner's current role; RoleNone
	// when the owner has been removed.
	Role Role
}

// EffectiveRole caps a token's role by its owner's, and gives RoleNone when
// the owner is no longer an active member.
func EffectiveRole(tokenRole, memberRole Role, memberActive bool) Role {
	if !memberActive {
		return RoleNone
	}
	return min(tokenRole, memberRole)
}

// RequireRole checks that p holds at least role.
func (p Principal) RequireRole(role Role) error {
	if p.Role < role {
		return fmt.Errorf("%w: needs role %s", ErrForbidden, role)
	}
	return nil
}

// CanSee reports whether p's scope covers an object in workspace and
// project (empty project: a workspace-wide object).
func (p Principal) CanSee(workspaceID, projectID string) bool {
	if workspaceID != p.WorkspaceID {
		return false
	}
	return p.ProjectID == "" || p.ProjectID == projectID
}

// CanGrant checks that p may give a token role in projectID: admin at
// least, never above p's own role, never outside p's own scope.
func (p Principal) CanGrant(projectID string, role Role) error {
	if err := p.RequireRole(RoleAdmin); err != nil {
		return err
	}
	if role > p.Role {
		return fmt.Errorf("%w: cannot grant a role above your own", ErrForbidden)
	}
	if p.ProjectID != "" && projectID != p.ProjectID {
		return fmt.Errorf("%w: a project token can only create tokens for its own project", ErrForbidden)
	}
	return nil
}

// CanManageMember checks that p may change a member who holds current and
// would hold next: admin at least, a workspace token, and neither the
// member's current nor new role above p's.
func (p Principal) CanManageMember(current, next Role) error {
	if err := p.RequireRole(RoleAdmin); err != nil {
		return err
	}
	if p.ProjectID != "" {
		return fmt.Errorf("%w: members are managed with a workspace token", ErrForbidden)
	}
	if current > p.Role || next > p.Role {
		return fmt.Errorf("%w: cannot manage a role above your own", ErrForbidden)
	}
	return nil
}

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleTester:
		return "tester"
	case RoleMaintainer:
		return "maintainer"
	case RoleAdmin:
		return "admin"
	case RoleOwner:
		return "owner"
	}
	return "none"
}
