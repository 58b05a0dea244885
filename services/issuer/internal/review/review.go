// Package review finds what the product's token guidance warns about: vague
// names, tokens whose owner left, tokens that never expire or expire soon,
// broad access, idle tokens, disabled tokens that can go, tokens still used
// after being disabled, and tokens shared by several systems. It is pure
// domain code: the caller supplies tokens, usage, owners, policy and clock.
package review

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
)

// Input is one token with what review needs to know about it.
type Input struct {
	Token *gatepassv1.Token
	// Usage as reported by validators; nil when never used.
	Usage *gatepassv1.TokenUsage
	// Owner is nil when the owner record is missing.
	Owner *gatepassv1.Member
}

const day = 24 * time.Hour

// Review returns the findings for every live token, most severe first.
func Review(in []Input, p *gatepassv1.Policy, now time.Time) []*gatepassv1.Finding {
	p = policy.Effective(p)
	r := p.GetReview()
	var out []*gatepassv1.Finding
	for _, i := range in {
		t := i.Token
		if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			continue
		}
		active := t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
		expired := token.Expired(t, now)
		add := func(ft gatepassv1.FindingType, sev gatepassv1.Severity, act gatepassv1.SuggestedAction, format string, args ...any) {
			out = append(out, &gatepassv1.Finding{
				TokenId: t.GetId(), TokenName: t.GetName(), Type: ft, Severity: sev, SuggestedAction: act,
				Message: fmt.Sprintf(format, args...),
			})
		}
		if policy.IsVague(p, t.GetName()) {
			add(gatepassv1.FindingType_FINDING_TYPE_VAGUE_NAME, gatepassv1.Severity_SEVERITY_LOW, gatepassv1.SuggestedAction_SUGGESTED_ACTION_RENAME,
				"the name %q does not say who owns the token or what it is for", t.GetName())
		}
		if o := i.Owner; o == nil || o.GetState() != gatepassv1.MemberState_MEMBER_STATE_ACTIVE {
			sev := gatepassv1.Severity_SEVERITY_MEDIUM
			if active {
				sev = gatepassv1.Severity_SEVERITY_HIGH
			}
			add(gatepassv1.FindingType_FINDING_TYPE_OWNER_INACTIVE, sev, gatepassv1.SuggestedAction_SUGGESTED_ACTION_TRANSFER_OWNERSHIP,
				"its owner %s is no longer a member of the workspace", t.GetOwnerId())
		} else if t.GetRole() > o.GetRole() {
			add(gatepassv1.FindingType_FINDING_TYPE_OUTRANKS_OWNER, gatepassv1.Severity_SEVERITY_HIGH, gatepassv1.SuggestedAction_SUGGESTED_ACTION_NARROW_ACCESS,
				"its role %s is above its owner's role %s", roles.Name(t.GetRole()), roles.Name(o.GetRole()))
		}
		if t.GetNeverExpires() {
			add(gatepassv1.FindingType_FINDING_TYPE_NO_EXPIRY, gatepassv1.Severity_SEVERITY_MEDIUM, gatepassv1.SuggestedAction_SUGGESTED_ACTION_ROTATE_WITH_EXPIRY,
				"the token never expires")
		} else if left := t.GetExpireTime().AsTime().Sub(now); active && !expired && left <= time.Duration(r.GetExpiringWithinDays())*day {
			add(gatepassv1.FindingType_FINDING_TYPE_EXPIRING_SOON, gatepassv1.Severity_SEVERITY_MEDIUM, gatepassv1.SuggestedAction_SUGGESTED_ACTION_ROTATE,
				"expires in %d days (%s)", int(left/day), t.GetExpireTime().AsTime().UTC().Format(time.DateOnly))
		}
		broad(i, add)
		usage(i, r, now, active && !expired, add)
	}
	slices.SortStableFunc(out, func(a, b *gatepassv1.Finding) int { return int(b.GetSeverity()) - int(a.GetSeverity()) })
	return out
}

type addFunc func(gatepassv1.FindingType, gatepassv1.Severity, gatepassv1.SuggestedAction, string, ...any)

// broad flags access wider than needed: a workspace token, a high role, or
// a role above what its recent use asked for.
func broad(i Input, add addFunc) {
	t := i.Token
	var why, narrow []string
	sev := gatepassv1.Severity_SEVERITY_LOW
	if t.GetProjectId() == "" {
		why = append(why, "a workspace token (prefer a project token)")
	}
	if t.GetRole() >= gatepassv1.Role_ROLE_ADMIN {
		why = append(why, "role "+roles.Name(t.GetRole()))
		sev = gatepassv1.Severity_SEVERITY_MEDIUM
	}
	if need := i.Usage.GetMaxRoleNeeded(); need != gatepassv1.Role_ROLE_UNSPECIFIED && i.Usage.GetUseCount() > 0 && need < t.GetRole() {
		why = append(why, fmt.Sprintf("recent use needed only %s but it holds %s", roles.Name(need), roles.Name(t.GetRole())))
		sev = gatepassv1.Severity_SEVERITY_MEDIUM
		narrow = append(narrow, "--role "+roles.Name(need))
	}
	if len(why) == 0 {
		return
	}
	// A token usable from every network but used from a few addresses
	// can be pinned to them; on its own that is no finding (most tokens
	// are not pinned), but it belongs in the narrowing suggested.
	if cidrs := sourceNetworks(i.Usage.GetSources()); len(t.GetAllowedCidrs()) == 0 && len(cidrs) > 0 && len(cidrs) <= maxSuggestedSources {
		for _, c := range cidrs {
			narrow = append(narrow, "--cidr "+c)
		}
	}
	msg := "broader access than needed: " + joinAnd(why)
	if len(narrow) > 0 {
		// What recorded use allows, as the command that narrows it in
		// place (UpdateToken refuses anything that would widen it).
		msg += "; narrow it in place: gatepassctl token update " + t.GetId() + " " + strings.Join(narrow, " ")
	}
	add(gatepassv1.FindingType_FINDING_TYPE_BROAD_ACCESS, sev, gatepassv1.SuggestedAction_SUGGESTED_ACTION_NARROW_ACCESS, "%s", msg)
}

// maxSuggestedSources is the most client addresses review suggests pinning
// a token to; more is a token shared by many systems (MANY_SOURCES).
const maxSuggestedSources = 4

// sourceNetworks turns recorded client addresses into one-address networks.
func sourceNetworks(sources []string) []string {
	var out []string
	for _, s := range sources {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()).String())
	}
	return out
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 1:
		return parts[0]
	case 2:
		return parts[0] + " and " + parts[1]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + ", and " + parts[len(parts)-1]
}

// usage adds the findings that come from recorded use: unused, disabled
// for long, used while disabled, and used from too many places. live is an
// active, unexpired token.
func usage(i Input, r *gatepassv1.ReviewPolicy, now time.Time, live bool, add addFunc) {
	t := i.Token
	u := i.Usage
	lastUse := u.GetLastUsedTime()
	idleSince := t.GetCreateTime().AsTime()
	if lastUse != nil {
		idleSince = lastUse.AsTime()
	}
	if live && now.Sub(idleSince) >= time.Duration(r.GetUnusedDays())*day {
		what := "never used"
		if lastUse != nil {
			what = "last used " + lastUse.AsTime().UTC().Format(time.DateOnly)
		}
		add(gatepassv1.FindingType_FINDING_TYPE_UNUSED, gatepassv1.Severity_SEVERITY_LOW, gatepassv1.SuggestedAction_SUGGESTED_ACTION_REVOKE,
			"unused for %d days or more (%s)", r.GetUnusedDays(), what)
	}
	if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED && t.GetDisableTime() != nil &&
		now.Sub(t.GetDisableTime().AsTime()) >= time.Duration(r.GetDisabledDays())*day {
		add(gatepassv1.FindingType_FINDING_TYPE_DISABLED_LONG, gatepassv1.Severity_SEVERITY_LOW, gatepassv1.SuggestedAction_SUGGESTED_ACTION_REVOKE,
			"disabled since %s: it can be revoked", t.GetDisableTime().AsTime().UTC().Format(time.DateOnly))
	}
	if t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED && t.GetDisableTime() != nil {
		var n int64
		var last time.Time
		for _, a := range u.GetAttempts() {
			if a.GetReason() == gatepassv1.Reason_REASON_DISABLED && a.GetLastTime().AsTime().After(t.GetDisableTime().AsTime()) {
				n += a.GetCount()
				if at := a.GetLastTime().AsTime(); at.After(last) {
					last = at
				}
			}
		}
		if n > 0 {
			add(gatepassv1.FindingType_FINDING_TYPE_USED_WHILE_DISABLED, gatepassv1.Severity_SEVERITY_HIGH, gatepassv1.SuggestedAction_SUGGESTED_ACTION_INVESTIGATE,
				"presented %d times after it was disabled, last at %s: something still depends on it", n, last.UTC().Format(time.RFC3339))
		}
	}
	if n := len(u.GetSources()); n > int(r.GetMaxSources()) {
		add(gatepassv1.FindingType_FINDING_TYPE_MANY_SOURCES, gatepassv1.Severity_SEVERITY_MEDIUM, gatepassv1.SuggestedAction_SUGGESTED_ACTION_SPLIT_TOKEN,
			"used from %d different client addresses (threshold %d): one token per system", n, r.GetMaxSources())
	}
}
