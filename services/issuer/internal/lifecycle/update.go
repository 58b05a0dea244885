package lifecycle

import (
	"fmt"
	"slices"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Update is an UpdateToken: the fields named in Paths ("name",
// "description", "owner_id") take the values given.
type Update struct {
	TokenID                    string
	Paths                      []string
	Name, Description, OwnerID string
}

// Update renames, describes or transfers a token for p, an admin who can
// see it and whose role reaches it. A new name must be free; a new owner
// must be an active member whose role reaches the token's.
func (s *Service) Update(p access.Principal, u Update) (*gatepassv1.Token, error) {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return nil, err
	}
	var t *gatepassv1.Token
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
		if err != nil || len(changes) == 0 {
			return err
		}
		if _, err := tx.PutToken(st); err != nil {
			return err
		}
		a := auditOf(p, "token.update", t.GetId(), "", t.GetWorkspaceId())
		a.Details = map[string]string{"changes": fmt.Sprint(changes)}
		return tx.Audit(a)
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return t, nil
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
