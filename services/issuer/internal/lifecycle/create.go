package lifecycle

import (
	"fmt"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// NewToken is what a caller asks of a new token; the fields mean what the
// CreateTokenRequest fields of the same names mean.
type NewToken struct {
	Name, Description string
	ProjectID         string
	Role              gatepassv1.Role
	ExpireTime        *timestamppb.Timestamp
	NeverExpires      bool
	// OwnerID defaults to the caller's member.
	OwnerID      string
	AllowedCIDRs []string
	SelfRotate   bool
	// Justification says why a token never expires; the policy may
	// require it.
	Justification string
}

// Created is a new token, its secret (to be shown once) and its event.
type Created struct {
	Token   *gatepassv1.Token
	Secret  string
	EventID string
}

// Create mints a token for p's workspace. p must be allowed to grant the
// role in the project, the owner must be an active member whose role
// reaches the token's, the name must follow the policy and be unique among
// live tokens, and the expiry must follow the policy.
func (s *Service) Create(p access.Principal, n NewToken) (Created, error) {
	if err := firstError(requireName("name", n.Name), requireRole("role", n.Role)); err != nil {
		return Created{}, err
	}
	if err := p.CanGrant(n.ProjectID, access.Role(n.Role)); err != nil {
		return Created{}, err
	}
	sec, err := s.Format.Mint()
	if err != nil {
		return Created{}, err
	}
	var out Created
	// Batch: concurrent creates share a commit; the function may run again.
	err = s.Store.Batch(func(tx *store.Tx) error {
		if err := checkProject(tx, p.WorkspaceID, n.ProjectID); err != nil {
			return err
		}
		owner := n.OwnerID
		if owner == "" {
			owner = p.MemberID
		}
		if err := checkOwner(tx, p.WorkspaceID, owner, n.Role); err != nil {
			return err
		}
		pol, err := tx.Policy(p.WorkspaceID)
		if err != nil {
			return err
		}
		if err := checkNewName(tx, pol, p.WorkspaceID, n.Name); err != nil {
			return err
		}
		expire, never, err := policy.Expiry(pol, s.Now(), n.ExpireTime, n.NeverExpires)
		if err != nil {
			return err
		}
		if err := justified(pol, never, n.Justification); err != nil {
			return err
		}
		out.Token, out.EventID, err = s.putNewToken(tx, sec, &gatepassv1.Token{
			Name: n.Name, Description: n.Description,
			WorkspaceId: p.WorkspaceID, ProjectId: n.ProjectID, Role: n.Role,
			OwnerId: owner, CreatedBy: p.TokenID,
			ExpireTime: expire, NeverExpires: never,
			AllowedCidrs: n.AllowedCIDRs, SelfRotate: n.SelfRotate,
		}, p)
		if err != nil || !never || n.Justification == "" {
			return err
		}
		// The reason a token never expires stays in the audit trail.
		rec := auditOf(p, "token.never_expires", out.Token.GetId(), n.Justification, p.WorkspaceID)
		return tx.Audit(rec)
	})
	if err != nil {
		return Created{}, err
	}
	s.notify()
	s.log().Info("token created", "token_id", out.Token.GetId(), "by", p.TokenID)
	out.Secret = sec.String()
	return out, nil
}

// justified applies the policy that a token that never expires says why.
func justified(pol *gatepassv1.Policy, never bool, why string) error {
	if never && pol.GetRequireNeverExpiresJustification() && strings.TrimSpace(why) == "" {
		return &policy.Violation{Field: "never_expires_justification", Msg: "the workspace policy requires a reason for a token that never expires"}
	}
	return nil
}

// checkProject requires projectID, when set, to be a project of the workspace.
func checkProject(tx *store.Tx, workspaceID, projectID string) error {
	if projectID == "" {
		return nil
	}
	prj, err := tx.Project(projectID)
	if err != nil {
		return fmt.Errorf("project %w", err)
	}
	if prj.GetWorkspaceId() != workspaceID {
		return fmt.Errorf("%w: project is in another workspace", access.ErrForbidden)
	}
	return nil
}

// checkOwner requires an active member of the workspace whose role reaches
// the token's.
func checkOwner(tx *store.Tx, workspaceID, ownerID string, role gatepassv1.Role) error {
	m, err := tx.Member(ownerID)
	if err != nil || m.GetWorkspaceId() != workspaceID {
		return fmt.Errorf("owner member %w", store.ErrNotFound)
	}
	if m.GetState() != gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
		return fmt.Errorf("%w: owner is not an active member", ErrPrecondition)
	}
	if role > m.GetRole() {
		return fmt.Errorf("%w: the token's role is above the owner's role", ErrPrecondition)
	}
	return nil
}

// checkNewName applies the naming policy and requires the name to be
// unique among the workspace's live tokens, apart from except (the token
// being renamed or rotated). One lookup in the live-name index: O(log n).
func checkNewName(tx *store.Tx, pol *gatepassv1.Policy, workspaceID, name string, except ...string) error {
	if err := policy.CheckName(pol, "name", name); err != nil {
		return err
	}
	taken := tx.LiveTokenNamed(workspaceID, name)
	for _, id := range except {
		if taken == id {
			taken = ""
		}
	}
	if taken != "" {
		return fmt.Errorf("%w: a live token named %q exists (%s)", ErrNameTaken, name, taken)
	}
	return nil
}

// putNewToken stores a new active token for sec with its event, and audits
// it as created by p.
func (s *Service) putNewToken(tx *store.Tx, sec token.Secret, t *gatepassv1.Token, p access.Principal) (*gatepassv1.Token, string, error) {
	now := s.Now()
	t.Id = store.NewID("tok", now)
	t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
	t.CreateTime = timestamppb.New(now)
	t.SecretHint = sec.Hint()
	digest := sec.Digest()
	eventID, err := tx.PutToken(&gatepassv1.TokenState{Token: t, SecretSha256: digest[:]})
	if err != nil {
		return nil, "", err
	}
	if err := s.scheduleExpiry(tx, t); err != nil {
		return nil, "", err
	}
	err = tx.Audit(auditOf(p, "token.create", t.GetId(), "", t.GetWorkspaceId()))
	return proto.CloneOf(t), eventID, err
}
