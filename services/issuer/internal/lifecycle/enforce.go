package lifecycle

import (
	"context"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// enforceChunk bounds the changes one policy transaction makes, so a first
// run over a large workspace does not hold the writer for long.
const enforceChunk = 100

// RunPolicies applies the workspaces' lifecycle policies at start and at
// every tick until ctx ends. The policies and every date they compare live
// in the database, so a run missed while the issuer was down happens at
// the next start.
func (s *Service) RunPolicies(ctx context.Context, ticks <-chan time.Time) {
	for {
		if n, err := s.EnforcePolicies(); err != nil && ctx.Err() == nil {
			s.log().Error("apply lifecycle policies", "error", err)
		} else if n > 0 {
			s.log().Info("lifecycle policies applied", "tokens", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

type policyDue struct {
	id     string
	action access.Action
}

// EnforcePolicies disables tokens unused for a workspace's
// disable_unused_days and revokes tokens disabled for its
// revoke_disabled_days, and returns how many it changed. Candidates come
// from a read of each such workspace's tokens, outside any write
// transaction; each is checked again where it is changed, in transactions
// of at most enforceChunk changes.
func (s *Service) EnforcePolicies() (int, error) {
	var work []policyDue
	err := s.Store.View(func(tx *store.Tx) error {
		for _, ws := range tx.WorkspaceIDs() {
			pol, err := tx.Policy(ws)
			if err != nil {
				return err
			}
			if pol.GetDisableUnusedDays() == 0 && pol.GetRevokeDisabledDays() == 0 {
				continue
			}
			var inner error
			scanErr := tx.ScanTokens(ws, "", func(t *gatepassv1.Token) bool {
				a, ok, err := s.policyAction(tx, pol, t)
				if ok {
					work = append(work, policyDue{t.GetId(), a})
				}
				inner = err
				return err == nil
			})
			if inner != nil {
				return inner
			}
			if scanErr != nil {
				return scanErr
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	changed := 0
	for len(work) > 0 {
		chunk := work[:min(enforceChunk, len(work))]
		work = work[len(chunk):]
		err := s.Store.Update(func(tx *store.Tx) error {
			for _, d := range chunk {
				if err := s.enforce(tx, d); err != nil {
					return err
				}
				changed++
			}
			return nil
		})
		if err != nil {
			return changed, err
		}
		s.notify()
	}
	return changed, nil
}

// enforce applies one policy change, if it is still due.
func (s *Service) enforce(tx *store.Tx, d policyDue) error {
	st, err := tx.Token(d.id)
	if err != nil {
		return err
	}
	pol, err := tx.Policy(st.GetToken().GetWorkspaceId())
	if err != nil {
		return err
	}
	a, ok, err := s.policyAction(tx, pol, st.GetToken())
	if err != nil || !ok || a != d.action {
		return err
	}
	reason := fmt.Sprintf("unused for %d days (workspace policy)", pol.GetDisableUnusedDays())
	if a == access.Revoke {
		reason = fmt.Sprintf("disabled for %d days (workspace policy)", pol.GetRevokeDisabledDays())
	}
	actor := &gatepassv1.AuditEvent{Details: map[string]string{"by": "policy"}}
	_, err = s.applyChange(tx, st, a, reason, actor)
	return err
}

// policyAction is what the policy asks of t now, if anything.
func (s *Service) policyAction(tx *store.Tx, pol *gatepassv1.Policy, t *gatepassv1.Token) (access.Action, bool, error) {
	now := s.Now()
	switch t.GetStatus() {
	case gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE:
		days := pol.GetDisableUnusedDays()
		if days == 0 || token.Expired(t, now) {
			return 0, false, nil
		}
		u, err := tx.Usage(t.GetId())
		if err != nil {
			return 0, false, err
		}
		since := t.GetCreateTime().AsTime()
		if u.GetLastUsedTime() != nil {
			since = u.GetLastUsedTime().AsTime()
		}
		return access.Disable, now.Sub(since) >= time.Duration(days)*day, nil
	case gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED:
		days := pol.GetRevokeDisabledDays()
		if days == 0 || t.GetDisableTime() == nil {
			return 0, false, nil
		}
		return access.Revoke, now.Sub(t.GetDisableTime().AsTime()) >= time.Duration(days)*day, nil
	}
	return 0, false, nil
}
