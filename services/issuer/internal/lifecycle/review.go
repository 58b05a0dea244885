package lifecycle

import (
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/review"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Review returns the findings of review (package review) over the tokens
// p can see, of projectID when set, and the workspace policy it used.
// A read of the workspace's tokens: O(n), outside any write transaction.
func (s *Service) Review(p access.Principal, projectID string) ([]*gatepassv1.Finding, *gatepassv1.Policy, error) {
	var in []review.Input
	var pol *gatepassv1.Policy
	err := s.Store.View(func(tx *store.Tx) error {
		var err error
		if pol, err = tx.Policy(p.WorkspaceID); err != nil {
			return err
		}
		var inner error
		scanErr := tx.ScanTokens(p.WorkspaceID, "", func(t *gatepassv1.Token) bool {
			if !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()) || (projectID != "" && t.GetProjectId() != projectID) {
				return true
			}
			i := review.Input{Token: t}
			if i.Usage, inner = tx.Usage(t.GetId()); inner != nil {
				return false
			}
			i.Owner, _ = tx.Member(t.GetOwnerId()) // missing owner: nil, flagged
			in = append(in, i)
			return true
		})
		if inner != nil {
			return inner
		}
		return scanErr
	})
	if err != nil {
		return nil, nil, err
	}
	return review.Review(in, pol, s.Now()), pol, nil
}
