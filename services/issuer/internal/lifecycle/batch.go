package lifecycle

import (
	"fmt"
	"strconv"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
)

// maxBatch is the most tokens one batch action changes.
const maxBatch = 1000

// Batch is a batch disable or revoke: explicit ids or a filter.
type Batch struct {
	IDs          []string
	Filter       *gatepassv1.TokenFilter
	Reason       string
	ValidateOnly bool
}

// Batched is what a batch changed (or would), and the event to wait for.
type Batched struct {
	Tokens  []*gatepassv1.Token
	EventID string
}

// BatchChange disables or revokes many tokens for p in one transaction,
// audited as one action that lists them (and each on its own), with one
// event to wait for. Named tokens must all exist and be in p's reach, or
// nothing changes; tokens already in the state are left out. A filter is
// resolved in a read of the narrowest index, outside the write
// transaction, which checks every match again: O(k log n).
func (s *Service) BatchChange(p access.Principal, a access.Action, b Batch) (Batched, error) {
	if err := p.RequireRole(access.RoleAdmin); err != nil {
		return Batched{}, err
	}
	ids := b.IDs
	if b.Filter != nil {
		var err error
		if ids, err = s.match(p, b.Filter); err != nil {
			return Batched{}, err
		}
	}
	var out Batched
	run := func(tx *store.Tx) error {
		out = Batched{}
		for _, id := range ids {
			st, err := tx.Token(id)
			if err != nil {
				return fmt.Errorf("token %s: %w", id, err)
			}
			t := st.GetToken()
			if err := mayChange(p, t, a); err != nil {
				return err
			}
			if b.Filter != nil && !matches(p, b.Filter, t) {
				continue // changed since the filter was resolved
			}
			if _, err := access.Transition(access.Status(t.GetStatus()), a); err != nil || t.GetStatus() == gatepassv1.TokenStatus(target(a)) {
				continue // already there, or beyond (revoked)
			}
			if b.ValidateOnly {
				out.Tokens = append(out.Tokens, proto.CloneOf(t))
				continue
			}
			if out.EventID, err = s.applyChange(tx, st, a, b.Reason, auditOf(p, "", "", "", "")); err != nil {
				return err
			}
			out.Tokens = append(out.Tokens, proto.CloneOf(t))
		}
		if b.ValidateOnly || len(out.Tokens) == 0 {
			return nil
		}
		rec := auditOf(p, "token.batch_"+a.String(), "", b.Reason, p.WorkspaceID)
		names := make([]string, len(out.Tokens))
		for i, t := range out.Tokens {
			names[i] = t.GetId()
		}
		rec.Details = map[string]string{"tokens": strings.Join(names, ","), "count": strconv.Itoa(len(names))}
		return tx.Audit(rec)
	}
	var err error
	if b.ValidateOnly {
		err = s.Store.View(run)
	} else {
		err = s.Store.Update(run)
	}
	if err != nil {
		return Batched{}, err
	}
	if !b.ValidateOnly {
		s.notify()
		s.log().Info("tokens changed in a batch", "action", a.String(), "tokens", len(out.Tokens), "by", p.TokenID)
	}
	return out, nil
}

func target(a access.Action) access.Status {
	next, _ := access.Transition(access.StatusActive, a)
	return next
}

// match resolves a filter to the ids of the tokens it matches, from the
// narrowest index that answers it.
func (s *Service) match(p access.Principal, f *gatepassv1.TokenFilter) ([]string, error) {
	var ids []string
	err := s.Store.View(func(tx *store.Tx) error {
		scan, of := tx.ScanTokens, p.WorkspaceID
		switch {
		case f.GetProjectId() != "":
			scan, of = tx.ScanProjectTokens, f.GetProjectId()
		case f.GetOwnerId() != "":
			scan, of = tx.ScanOwnerTokens, f.GetOwnerId()
		}
		return scan(of, "", func(t *gatepassv1.Token) bool {
			if matches(p, f, t) {
				ids = append(ids, t.GetId())
			}
			return len(ids) <= maxBatch
		})
	})
	if err != nil {
		return nil, err
	}
	if len(ids) > maxBatch {
		return nil, &policy.Violation{Field: "filter", Msg: fmt.Sprintf("matches more than %d tokens; narrow it", maxBatch)}
	}
	return ids, nil
}

// matches reports whether t is in p's reach and matches every field set.
func matches(p access.Principal, f *gatepassv1.TokenFilter, t *gatepassv1.Token) bool {
	switch {
	case t.GetWorkspaceId() != p.WorkspaceID || !p.CanSee(t.GetWorkspaceId(), t.GetProjectId()),
		f.GetOwnerId() != "" && t.GetOwnerId() != f.GetOwnerId(),
		f.GetProjectId() != "" && t.GetProjectId() != f.GetProjectId(),
		f.GetStatus() != 0 && t.GetStatus() != f.GetStatus(),
		f.GetNamePrefix() != "" && !strings.HasPrefix(t.GetName(), f.GetNamePrefix()),
		f.GetCreatedBefore() != nil && !t.GetCreateTime().AsTime().Before(f.GetCreatedBefore().AsTime()):
		return false
	}
	return true
}
