package lifecycle

import (
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AddMember adds an active member to p's workspace, with a role p may grant.
func (s *Service) AddMember(p access.Principal, displayName, email string, role gatepassv1.Role) (*gatepassv1.Member, error) {
	if err := firstError(requireName("display_name", displayName), requireRole("role", role)); err != nil {
		return nil, err
	}
	if err := p.CanManageMember(access.RoleNone, access.Role(role)); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.Now())
	m := &gatepassv1.Member{
		Id: store.NewID("mem", s.Now()), WorkspaceId: p.WorkspaceID,
		DisplayName: displayName, Email: email, Role: role,
		State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE, CreateTime: now, UpdateTime: now,
	}
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutMember(m); err != nil {
			return err
		}
		return tx.Audit(auditOf(p, "member.add", m.GetId(), "", p.WorkspaceID))
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return m, nil
}

// MemberChange is a member after a change, and the events of the tokens
// that change restricted (the last is the one to wait for).
type MemberChange struct {
	Member *gatepassv1.Member
	Events []string
}

// SetMemberRole changes a member's role. Lowering it caps every token the
// member owns at the new role, in the same transaction: a demoted admin's
// tokens stop passing admin checks once the events are applied.
func (s *Service) SetMemberRole(p access.Principal, memberID string, role gatepassv1.Role) (MemberChange, error) {
	if err := requireRole("role", role); err != nil {
		return MemberChange{}, err
	}
	return s.changeMember(p, memberID, "member.update_role", func(m *gatepassv1.Member) { m.Role = role })
}

// RemoveMember removes a member. Their active tokens are disabled in the
// same transaction, unless the workspace policy keeps them (review then
// flags them).
func (s *Service) RemoveMember(p access.Principal, memberID string) (MemberChange, error) {
	return s.changeMember(p, memberID, "member.remove", func(m *gatepassv1.Member) {
		m.State = gatepassv1.MemberState_MEMBER_STATE_REMOVED
	})
}

// changeMember applies edit to an active member of p's workspace, refusing
// changes above p's role or that leave no active owner.
func (s *Service) changeMember(p access.Principal, id, action string, edit func(*gatepassv1.Member)) (MemberChange, error) {
	var out MemberChange
	err := s.Store.Update(func(tx *store.Tx) error {
		m, err := tx.Member(id)
		if err != nil {
			return err
		}
		if m.GetWorkspaceId() != p.WorkspaceID {
			return store.ErrNotFound
		}
		if m.GetState() != gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
			return fmt.Errorf("%w: member was removed", ErrPrecondition)
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
		if err := tx.Audit(auditOf(p, action, m.GetId(), "", p.WorkspaceID)); err != nil {
			return err
		}
		out = MemberChange{Member: m}
		removed := m.GetState() == gatepassv1.MemberState_MEMBER_STATE_REMOVED
		if removed || m.GetRole() < gatepassv1.Role(current) {
			if out.Events, err = s.restrictTokensOf(tx, p, m); err != nil {
				return err
			}
		}
		if removed {
			return s.memberRemovedNotice(tx, p, m, len(out.Events))
		}
		return nil
	})
	if err != nil {
		return MemberChange{}, err
	}
	s.notify()
	return out, nil
}

// restrictTokensOf brings a member's tokens in line with the member after a
// change: removed, their active tokens are disabled (unless the policy keeps
// them); demoted, their tokens' roles are capped at the new role. It
// returns the events written. O(k log n) for the member's k tokens.
func (s *Service) restrictTokensOf(tx *store.Tx, p access.Principal, m *gatepassv1.Member) ([]string, error) {
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
			id, err = s.applyChange(tx, st, access.Disable, "owner removed from the workspace", auditOf(p, "", "", "", ""))
		case !removed && t.GetRole() > m.GetRole():
			id, err = capRole(tx, p, st, m.GetRole())
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

// capRole lowers a token's role to its owner's new role, with its event
// and audit record.
func capRole(tx *store.Tx, p access.Principal, st *gatepassv1.TokenState, role gatepassv1.Role) (string, error) {
	t := st.GetToken()
	t.Role = role
	id, err := tx.PutToken(st)
	if err != nil {
		return "", err
	}
	reason := "owner's role lowered to " + strings.TrimPrefix(role.String(), "ROLE_")
	return id, tx.Audit(auditOf(p, "token.role_capped", t.GetId(), reason, t.GetWorkspaceId()))
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
	return fmt.Errorf("%w: the workspace must keep an active owner", ErrPrecondition)
}
