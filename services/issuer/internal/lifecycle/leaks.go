package lifecycle

import (
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Leak is a report of exposed secrets (or their SHA-256 digests).
type Leak struct {
	Secrets   []string
	Digests   [][]byte
	SourceURL string
	// Reporter names who reported it when no token did (a secret scanner).
	Reporter string
}

// Leaked is the outcome per reported item (secrets first, then digests),
// and the event to wait for ("" when nothing changed).
type Leaked struct {
	Results []*gatepassv1.LeakResult
	EventID string
}

// ReportLeaks applies each found token's workspace leak policy (revoke by
// default, or disable) in one transaction, audits token.leaked with the
// source, and sends the token.leaked notice. A secret proves possession,
// so it acts on any token; a digest acts only on tokens p could revoke,
// and is "not found" otherwise. A secret is never logged nor stored.
func (s *Service) ReportLeaks(p access.Principal, l Leak) (Leaked, error) {
	var out Leaked
	err := s.Store.Update(func(tx *store.Tx) error {
		out = Leaked{}
		for i, raw := range l.Secrets {
			res := &gatepassv1.LeakResult{Index: int32(i)}
			out.Results = append(out.Results, res)
			sec, err := s.Format.Parse(raw)
			if err != nil {
				continue // not one of ours: not found
			}
			if err := s.leak(tx, p, l, sec.Digest(), false, res, &out.EventID); err != nil {
				return err
			}
		}
		for i, d := range l.Digests {
			res := &gatepassv1.LeakResult{Index: int32(len(l.Secrets) + i)}
			out.Results = append(out.Results, res)
			if len(d) != len(token.Digest{}) {
				continue
			}
			if err := s.leak(tx, p, l, token.Digest(d), true, res, &out.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Leaked{}, err
	}
	s.notify()
	return out, nil
}

// leak applies the leak policy to the token with digest d, if found (and,
// for a digest, within p's reach).
func (s *Service) leak(tx *store.Tx, p access.Principal, l Leak, d token.Digest, byDigest bool, res *gatepassv1.LeakResult, eventID *string) error {
	st, err := tx.TokenByDigest(d)
	if err != nil {
		return nil //nolint:nilerr // unknown: not found
	}
	t := st.GetToken()
	if byDigest && (p.RequireRole(access.RoleAdmin) != nil || mayChange(p, t, access.Revoke) != nil) {
		return nil // knowing a digest proves nothing: outside p's reach it is not found
	}
	res.Found, res.TokenId = true, t.GetId()
	pol, err := tx.Policy(t.GetWorkspaceId())
	if err != nil {
		return err
	}
	a, act := access.Revoke, gatepassv1.LeakAction_LEAK_ACTION_REVOKE
	if policy.Effective(pol).GetLeakAction() == gatepassv1.LeakAction_LEAK_ACTION_DISABLE {
		a, act = access.Disable, gatepassv1.LeakAction_LEAK_ACTION_DISABLE
	}
	res.Action = gatepassv1.LeakAction_LEAK_ACTION_NONE
	if _, err := access.Transition(access.Status(t.GetStatus()), a); err == nil {
		actor := auditOf(p, "", "", "", "")
		if *eventID, err = s.applyChange(tx, st, a, "leaked", actor); err != nil {
			return err
		}
		res.Action = act
	}
	rec := auditOf(p, "token.leaked", t.GetId(), "found exposed", t.GetWorkspaceId())
	rec.Details = map[string]string{"source_url": l.SourceURL, "action": res.GetAction().String()}
	if l.Reporter != "" {
		rec.Details["reported_by"] = l.Reporter
	}
	if err := tx.Audit(rec); err != nil {
		return err
	}
	n := s.tokenData(t, p.TokenID)
	n.Source = l.SourceURL
	return s.notice(tx, t.GetWorkspaceId(), gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_LEAKED, n)
}
