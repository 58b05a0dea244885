package lifecycle

import (
	"fmt"
	"slices"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Update is an UpdateToken: the fields named in Paths ("name",
// "description", "owner_id", and the narrowing "role", "project_id",
// "allowed_cidrs", "expire_time") take the values given.
type Update struct {
	TokenID                    string
	Paths                      []string
	Name, Description, OwnerID string
	Narrowing
}

// Updated is a token after an update, and the event validators must apply
// before the narrowing holds everywhere ("" when access did not change).
type Updated struct {
	Token   *gatepassv1.Token
	EventID string
}

// Update renames, describes or transfers a token for p, an admin who can
// see it and whose role reaches it. A new name must be free; a new owner
// must be an active member whose role reaches the token's.
func (s *Service) Update(p access.Principal, u Update) (Updated, error) {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return Updated{}, err
	}
	var t *gatepassv1.Token
	var eventID string
	err := s.Store.Update(func(tx *store.Tx) error {
		st, err := tx.Token(u.TokenID)
		if err != nil {
			return err
		}
		t = st.GetToken()
		if err := mayUpdate(p, t); err != nil {
			return err
		}
		changes, err := u.apply(tx, t)
		if err != nil {
			return err
		}
		narrowed, err := narrow(tx, t, u.masked(), s.Now())
		if err != nil {
			return err
		}
		changes = append(changes, narrowed...)
		if len(changes) == 0 {
			return nil
		}
		id, err := tx.PutToken(st)
		if err != nil {
			return err
		}
		if len(narrowed) > 0 {
			eventID = id
			if u.ExpireTime != nil {
				if err := s.scheduleExpiry(tx, t); err != nil {
					return err
				}
			}
		}
		a := auditOf(p, "token.update", t.GetId(), "", t.GetWorkspaceId())
		a.Details = map[string]string{"changes": fmt.Sprint(changes)}
		return tx.Audit(a)
	})
	if err != nil {
		return Updated{}, err
	}
	s.notify()
	return Updated{Token: t, EventID: eventID}, nil
}

// masked is the narrowing of the masked paths.
func (u Update) masked() Narrowing {
	var n Narrowing
	if slices.Contains(u.Paths, "role") {
		n.Role = u.Role
	}
	if slices.Contains(u.Paths, "project_id") {
		n.ProjectID = u.ProjectID
	}
	if slices.Contains(u.Paths, "allowed_cidrs") {
		n.AllowedCIDRs = u.AllowedCIDRs
		if n.AllowedCIDRs == nil {
			n.AllowedCIDRs = []string{}
		}
	}
	if slices.Contains(u.Paths, "expire_time") {
		n.ExpireTime = u.ExpireTime
	}
	return n
}

func mayUpdate(p access.Principal, t *gatepassv1.Token) error {
	if !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) {
		return store.ErrNotFound
	}
	if access.Role(t.GetRole()) > p.Role {
		return fmt.Errorf("%w: cannot update a token whose role is above your own", access.ErrForbidden)
	}
	if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
		return fmt.Errorf("%w: the token is revoked", ErrPrecondition)
	}
	return nil
}

// apply sets the masked fields on t and returns what changed, for the
// audit record.
func (u Update) apply(tx *store.Tx, t *gatepassv1.Token) ([]string, error) {
	var changes []string
	if slices.Contains(u.Paths, "name") && u.Name != t.GetName() {
		pol, err := tx.Policy(t.GetWorkspaceId())
		if err != nil {
			return nil, err
		}
		if err := checkNewName(tx, pol, t.GetWorkspaceId(), u.Name, t.GetId()); err != nil {
			return nil, err
		}
		changes = append(changes, fmt.Sprintf("name %q -> %q", t.GetName(), u.Name))
		t.Name = u.Name
	}
	if slices.Contains(u.Paths, "description") && u.Description != t.GetDescription() {
		changes = append(changes, "description")
		t.Description = u.Description
	}
	if slices.Contains(u.Paths, "owner_id") && u.OwnerID != t.GetOwnerId() {
		if err := checkOwner(tx, t.GetWorkspaceId(), u.OwnerID, t.GetRole()); err != nil {
			return nil, err
		}
		changes = append(changes, fmt.Sprintf("owner %s -> %s", t.GetOwnerId(), u.OwnerID))
		t.OwnerId = u.OwnerID
	}
	return changes, nil
}
