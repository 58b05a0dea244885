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
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Bounds on what is kept per token, and on what one report can cost.
const (
	MaxSources  = 32
	MaxAttempts = 32
	// maxTokensPerReport bounds the work one report can cause.
	maxTokensPerReport = 10000
	// maxAttemptsPerToken bounds the distinct (reason, address) attempts
	// one report may carry for one token; the rest are folded into one
	// entry per reason without an address.
	maxAttemptsPerToken = 8
	// auditPerTokenPerMinute bounds token.attempt audit records per token.
	auditPerTokenPerMinute = 6
	// maxLimited bounds the rate limiter's table.
	maxLimited = 100000
	// maxCount bounds one report's count, so sums cannot overflow.
	maxCount = 1 << 40
)

// Ingester merges reports, rate-limiting the audit records they cause: a
// hostile or broken validator can cost little.
type Ingester struct {
	Store *store.Store
	Now   func() time.Time
	// Canary, when set, is told (in the report's transaction) of an
	// attempt with a disabled or revoked token: something still holds it.
	// It runs at most once per token per report, within the audit rate.
	Canary func(tx *store.Tx, t *gatepassv1.Token, a *gatepassv1.Attempt) error

	mu      sync.Mutex
	windows map[string]window
}

type window struct {
	start time.Time
	n     int
}

// allow reports whether one more attempt record for a token may be
// written now.
func (in *Ingester) allow(tokenID string, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.windows == nil || len(in.windows) > maxLimited {
		in.windows = map[string]window{}
	}
	w := in.windows[tokenID]
	if now.Sub(w.start) >= time.Minute {
		w = window{start: now}
	}
	if w.n >= auditPerTokenPerMinute {
		return false
	}
	w.n++
	in.windows[tokenID] = w
	return true
}

// Ingest merges a report. Tokens unknown to the issuer are skipped;
// addresses that are not IP addresses are dropped.
func (in *Ingester) Ingest(r *gatepassv1.UsageReport) error {
	tokens := r.GetTokens()
	if len(tokens) > maxTokensPerReport {
		tokens = tokens[:maxTokensPerReport]
	}
	now := in.Now()
	return in.Store.Update(func(tx *store.Tx) error {
		for _, tu := range tokens {
			st, err := tx.Token(tu.GetTokenId())
			if err != nil {
				continue
			}
			tu = Sanitize(tu)
			u, err := tx.Usage(tu.GetTokenId())
			if err != nil {
				return err
			}
			Merge(u, tu)
			if err := tx.PutUsage(u); err != nil {
				return err
			}
			told := false
			for _, a := range tu.GetAttempts() {
				if !in.allow(tu.GetTokenId(), now) {
					break // counted in the statistics, not audited again
				}
				if err := tx.Audit(attemptAudit(st.GetToken(), r.GetValidatorId(), a)); err != nil {
					return err
				}
				if in.Canary != nil && !told && (a.GetReason() == gatepassv1.Reason_REASON_DISABLED || a.GetReason() == gatepassv1.Reason_REASON_REVOKED) {
					if err := in.Canary(tx, st.GetToken(), a); err != nil {
						return err
					}
					told = true
				}
			}
		}
		return nil
	})
}

// Sanitize returns a report entry with only IP addresses as addresses and
// at most maxAttemptsPerToken attempts, aggregated by reason and address.
func Sanitize(tu *gatepassv1.TokenUsage) *gatepassv1.TokenUsage {
	out := &gatepassv1.TokenUsage{
		TokenId: tu.GetTokenId(), UseCount: min(max(tu.GetUseCount(), 0), maxCount), LastUsedTime: tu.GetLastUsedTime(),
		LastUsedIp: ipOrEmpty(tu.GetLastUsedIp()), MaxRoleNeeded: tu.GetMaxRoleNeeded(),
	}
	if _, ok := gatepassv1.Role_name[int32(out.MaxRoleNeeded)]; !ok {
		out.MaxRoleNeeded = gatepassv1.Role_ROLE_UNSPECIFIED
	}
	for _, src := range tu.GetSources() {
		if ip := ipOrEmpty(src); ip != "" && !slices.Contains(out.Sources, ip) && len(out.Sources) < MaxSources {
			out.Sources = append(out.Sources, ip)
		}
	}
	for _, a := range tu.GetAttempts() {
		if _, ok := gatepassv1.Reason_name[int32(a.GetReason())]; !ok || a.GetCount() <= 0 {
			continue
		}
		ip := ipOrEmpty(a.GetClientIp())
		if attemptIndex(out.Attempts, a.GetReason(), ip) < 0 && len(out.Attempts) >= maxAttemptsPerToken {
			ip = "" // fold the rest into one entry per reason
		}
		out.Attempts = addAttempt(out.Attempts, a.GetReason(), ip, min(a.GetCount(), maxCount), a)
	}
	return out
}

// attemptIndex finds the entry for a reason and address, or -1.
func attemptIndex(list []*gatepassv1.Attempt, r gatepassv1.Reason, ip string) int {
	return slices.IndexFunc(list, func(b *gatepassv1.Attempt) bool { return b.GetReason() == r && b.GetClientIp() == ip })
}

// addAttempt adds count attempts (last seen as a's) to the entry for reason
// and address, creating it if needed.
func addAttempt(list []*gatepassv1.Attempt, r gatepassv1.Reason, ip string, count int64, a *gatepassv1.Attempt) []*gatepassv1.Attempt {
	i := attemptIndex(list, r, ip)
	if i < 0 {
		list = append(list, &gatepassv1.Attempt{Reason: r, ClientIp: ip})
		i = len(list) - 1
	}
	b := list[i]
	b.Count += count
	if b.GetLastTime() == nil || a.GetLastTime().AsTime().After(b.GetLastTime().AsTime()) {
		b.LastTime = a.GetLastTime()
	}
	return list
}

func ipOrEmpty(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return ip.Unmap().String()
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
		u.Attempts = addAttempt(u.Attempts, a.GetReason(), a.GetClientIp(), max(a.GetCount(), 0), a)
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
