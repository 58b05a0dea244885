// Package usage folds validators' usage reports into the issuer's
// statistics: last use, use count, last client address, distinct sources,
// the highest role recent use needed, and refused attempts with dead or
// misused tokens, which also go to the audit trail.
//
// Statistics are not token state: they change no version and publish no
// token event, and a lost report loses only statistics.
package usage

import (
	"fmt"
	"slices"
	"strconv"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Bounds on what is kept per token.
const (
	MaxSources  = 32
	MaxAttempts = 32
	// maxTokensPerReport bounds the work one report can cause.
	maxTokensPerReport = 10000
)

// Ingest merges a report. Tokens unknown to the issuer are skipped.
func Ingest(s *store.Store, r *gatepassv1.UsageReport) error {
	tokens := r.GetTokens()
	if len(tokens) > maxTokensPerReport {
		tokens = tokens[:maxTokensPerReport]
	}
	return s.Update(func(tx *store.Tx) error {
		for _, tu := range tokens {
			st, err := tx.Token(tu.GetTokenId())
			if err != nil {
				continue
			}
			u, err := tx.Usage(tu.GetTokenId())
			if err != nil {
				return err
			}
			Merge(u, tu)
			if err := tx.PutUsage(u); err != nil {
				return err
			}
			for _, a := range tu.GetAttempts() {
				if err := tx.Audit(attemptAudit(st.GetToken(), r.GetValidatorId(), a)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Merge adds a report's figures for one token to the stored ones.
func Merge(u, r *gatepassv1.TokenUsage) {
	u.UseCount += max(r.GetUseCount(), 0)
	if r.GetLastUsedTime() != nil && (u.GetLastUsedTime() == nil || r.GetLastUsedTime().AsTime().After(u.GetLastUsedTime().AsTime())) {
		u.LastUsedTime = r.GetLastUsedTime()
		u.LastUsedIp = r.GetLastUsedIp()
	}
	for _, src := range r.GetSources() {
		if i := slices.Index(u.Sources, src); i >= 0 {
			u.Sources = slices.Delete(u.Sources, i, i+1)
		}
		u.Sources = append(u.Sources, src) // most recent last
	}
	if n := len(u.Sources); n > MaxSources {
		u.Sources = slices.Clone(u.Sources[n-MaxSources:])
	}
	u.MaxRoleNeeded = max(u.GetMaxRoleNeeded(), r.GetMaxRoleNeeded())
	for _, a := range r.GetAttempts() {
		i := slices.IndexFunc(u.Attempts, func(b *gatepassv1.Attempt) bool {
			return b.GetReason() == a.GetReason() && b.GetClientIp() == a.GetClientIp()
		})
		if i < 0 {
			u.Attempts = append(u.Attempts, &gatepassv1.Attempt{Reason: a.GetReason(), ClientIp: a.GetClientIp()})
			i = len(u.Attempts) - 1
		}
		b := u.Attempts[i]
		b.Count += max(a.GetCount(), 0)
		if b.GetLastTime() == nil || a.GetLastTime().AsTime().After(b.GetLastTime().AsTime()) {
			b.LastTime = a.GetLastTime()
		}
	}
	if n := len(u.Attempts); n > MaxAttempts {
		slices.SortFunc(u.Attempts, func(a, b *gatepassv1.Attempt) int {
			return a.GetLastTime().AsTime().Compare(b.GetLastTime().AsTime())
		})
		u.Attempts = slices.Clone(u.Attempts[n-MaxAttempts:])
	}
}

func attemptAudit(t *gatepassv1.Token, validator string, a *gatepassv1.Attempt) *gatepassv1.AuditEvent {
	e := &gatepassv1.AuditEvent{
		WorkspaceId: t.GetWorkspaceId(),
		Action:      "token.attempt",
		TargetId:    t.GetId(),
		Reason:      fmt.Sprintf("refused: %s", a.GetReason()),
		Details: map[string]string{
			"validator": validator,
			"count":     strconv.FormatInt(a.GetCount(), 10),
			"last_time": a.GetLastTime().AsTime().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		},
	}
	if ip := a.GetClientIp(); ip != "" {
		e.Details["client_ip"] = ip
	}
	return e
}
