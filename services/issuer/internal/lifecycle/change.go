package lifecycle

import (
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Changed is a token after a change, and the event to wait for ("" when
// nothing changed).
type Changed struct {
	Token   *gatepassv1.Token
	EventID string
}

// Change disables, enables or revokes a token for p, an admin who can see
// it and whose role reaches it (or whose own token it is).
func (s *Service) Change(p access.Principal, tokenID, reason string, a access.Action) (Changed, error) {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return Changed{}, err
	}
	var out Changed
	// Batch: concurrent changes share a commit; the function may run again.
	err := s.Store.Batch(func(tx *store.Tx) error {
		st, err := tx.Token(tokenID)
		if err != nil {
			return err
		}
		if err := mayChange(p, st.GetToken(), a); err != nil {
			return err
		}
		out.EventID, err = s.applyChange(tx, st, a, reason, auditOf(p, "", "", "", ""))
		out.Token = st.GetToken()
		return err
	})
	if err != nil {
		return Changed{}, err
	}
	s.notify()
	s.log().Info("token changed", "action", a.String(), "token_id", tokenID, "by", p.TokenID)
	return out, nil
}

// Chain is the result of RevokeChain.
type Chain struct {
	Changed
	// Successors are the tokens rotated from it that were revoked with it.
	Successors []string
}

// RevokeChain revokes a token and every successor rotation made from it,
// in one transaction: a leaked token cannot survive through its rotation.
func (s *Service) RevokeChain(p access.Principal, tokenID, reason string) (Chain, error) {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return Chain{}, err
	}
	var out Chain
	err := s.Store.Update(func(tx *store.Tx) error {
		out = Chain{}
		seen := map[string]bool{}
		for id := tokenID; id != "" && !seen[id]; {
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
				why := reason
				if id != tokenID {
					why = "cascade from " + tokenID + ": " + reason
					out.Successors = append(out.Successors, id)
				}
				if out.EventID, err = s.applyChange(tx, st, access.Revoke, why, auditOf(p, "", "", "", "")); err != nil {
					return err
				}
			}
			if id == tokenID {
				out.Token = t
			}
			id = t.GetReplacedByTokenId()
		}
		return nil
	})
	if err != nil {
		return Chain{}, err
	}
	s.notify()
	s.log().Info("token revoked with its successors", "token_id", tokenID, "successors", len(out.Successors), "by", p.TokenID)
	return out, nil
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
func (s *Service) applyChange(tx *store.Tx, st *gatepassv1.TokenState, a access.Action, reason string, actor *gatepassv1.AuditEvent) (string, error) {
	t := st.GetToken()
	next, err := access.Transition(access.Status(t.GetStatus()), a)
	if err != nil {
		return "", err
	}
	now := timestamppb.New(s.Now())
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
	if err := tx.Audit(actor); err != nil {
		return "", err
	}
	if n := changeNotice(a); n != gatepassv1.NoticeType_NOTICE_TYPE_UNSPECIFIED {
		if err := s.tokenNotice(tx, n, t, actor.GetActorTokenId()); err != nil {
			return "", err
		}
	}
	return eventID, nil
}
