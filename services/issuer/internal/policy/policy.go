// Package policy holds a workspace's token rules: the expiry policy
// (default and maximum lifetime, whether "never expires" is allowed), the
// naming policy (vague names rejected or flagged), and review thresholds,
// with their defaults. It is pure domain code over the API's message types.
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultVagueNames are names that say nothing of owner or purpose.
var DefaultVagueNames = []string{
	"token", "new token", "test", "testing", "automation", "api", "api token", "my token",
	"temp", "tmp", "default", "access token", "secret", "key", "ci", "bot",
}

// Review defaults.
const (
	DefaultExpiringWithinDays = 14
	DefaultUnusedDays         = 30
	DefaultDisabledDays       = 14
	DefaultMaxSources         = 3
)

// ErrViolation is returned (wrapped, with the field) when a request breaks
// the workspace policy.
var ErrViolation = errors.New("workspace policy")

// Violation names the request field at fault.
type Violation struct {
	Field, Msg string
}

func (v *Violation) Error() string { return fmt.Sprintf("%s: %s", v.Field, v.Msg) }

// Unwrap makes errors.Is(err, ErrViolation) hold.
func (v *Violation) Unwrap() error { return ErrViolation }

// Effective returns p with every default filled in; p may be nil.
func Effective(p *gatepassv1.Policy) *gatepassv1.Policy {
	e := proto.CloneOf(p)
	if e == nil {
		e = &gatepassv1.Policy{}
	}
	if len(e.GetVagueNames()) == 0 {
		e.VagueNames = append([]string(nil), DefaultVagueNames...)
	}
	if e.GetVagueNameAction() == gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_UNSPECIFIED {
		e.VagueNameAction = gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT
	}
	if e.Review == nil {
		e.Review = &gatepassv1.ReviewPolicy{}
	}
	if e.GetMaxRotationOverlap() == nil {
		e.MaxRotationOverlap = durationpb.New(DefaultMaxRotationOverlap)
	}
	if e.GetLeakAction() == gatepassv1.LeakAction_LEAK_ACTION_UNSPECIFIED {
		e.LeakAction = gatepassv1.LeakAction_LEAK_ACTION_REVOKE
	}
	if len(e.GetExpiryNoticeDays()) == 0 {
		e.ExpiryNoticeDays = append([]int32(nil), DefaultExpiryNoticeDays...)
	}
	r := e.Review
	r.ExpiringWithinDays = orDefault(r.GetExpiringWithinDays(), DefaultExpiringWithinDays)
	r.UnusedDays = orDefault(r.GetUnusedDays(), DefaultUnusedDays)
	r.DisabledDays = orDefault(r.GetDisabledDays(), DefaultDisabledDays)
	r.MaxSources = orDefault(r.GetMaxSources(), DefaultMaxSources)
	return e
}

// DefaultExpiryNoticeDays are the days before expiry at which
// token.expiring notices go out.
var DefaultExpiryNoticeDays = []int32{30, 7, 1}

// DefaultMaxRotationOverlap bounds how long a self-rotated token keeps
// working beside its replacement.
const DefaultMaxRotationOverlap = 7 * 24 * time.Hour

func orDefault(v, d int32) int32 {
	if v <= 0 {
		return d
	}
	return v
}

// Validate checks a policy an owner wants to set.
func Validate(p *gatepassv1.Policy) error {
	def, maxL := p.GetDefaultLifetime(), p.GetMaxLifetime()
	switch {
	case def != nil && (def.CheckValid() != nil || def.AsDuration() < time.Minute):
		return &Violation{"policy.default_lifetime", "must be at least one minute"}
	case maxL != nil && (maxL.CheckValid() != nil || maxL.AsDuration() < time.Minute):
		return &Violation{"policy.max_lifetime", "must be at least one minute"}
	case def != nil && maxL != nil && def.AsDuration() > maxL.AsDuration():
		return &Violation{"policy.default_lifetime", "must not exceed max_lifetime"}
	case len(p.GetVagueNames()) > 200:
		return &Violation{"policy.vague_names", "at most 200 names"}
	case p.GetDisableUnusedDays() < 0 || p.GetDisableUnusedDays() > 3650:
		return &Violation{"policy.disable_unused_days", "must be 0 (off) to 3650"}
	case p.GetRevokeDisabledDays() < 0 || p.GetRevokeDisabledDays() > 3650:
		return &Violation{"policy.revoke_disabled_days", "must be 0 (off) to 3650"}
	case p.GetLeakAction() == gatepassv1.LeakAction_LEAK_ACTION_NONE:
		return &Violation{"policy.leak_action", "must revoke or disable: a leaked token cannot be left working"}
	case len(p.GetExpiryNoticeDays()) > 8:
		return &Violation{"policy.expiry_notice_days", "at most 8 thresholds"}
	case p.GetMaxRotationOverlap() != nil && (p.GetMaxRotationOverlap().CheckValid() != nil || p.GetMaxRotationOverlap().AsDuration() <= 0 ||
		p.GetMaxRotationOverlap().AsDuration() > 365*24*time.Hour):
		return &Violation{"policy.max_rotation_overlap", "must be more than 0 and at most 365 days"}
	}
	for _, d := range p.GetExpiryNoticeDays() {
		if d < 1 || d > 365 {
			return &Violation{"policy.expiry_notice_days", "each must be 1 to 365 days"}
		}
	}
	if _, ok := gatepassv1.LeakAction_name[int32(p.GetLeakAction())]; !ok {
		return &Violation{"policy.leak_action", "unknown value"}
	}
	if _, ok := gatepassv1.VagueNameAction_name[int32(p.GetVagueNameAction())]; !ok {
		return &Violation{"policy.vague_name_action", "unknown value"}
	}
	for _, n := range p.GetVagueNames() {
		if Normalize(n) == "" || len(n) > 64 {
			return &Violation{"policy.vague_names", "names must be 1 to 64 characters"}
		}
	}
	r := p.GetReview()
	for f, v := range map[string]int32{
		"expiring_within_days": r.GetExpiringWithinDays(), "unused_days": r.GetUnusedDays(),
		"disabled_days": r.GetDisabledDays(), "max_sources": r.GetMaxSources(),
	} {
		if v < 0 || v > 3650 {
			return &Violation{"policy.review." + f, "must be 0 (default) to 3650"}
		}
	}
	return nil
}

// Normalize folds a name for comparison: lower case, "-", "_" and "." as
// spaces, runs of spaces collapsed, none at either end. It is the key of
// the live-name index, so what it returns for a name must never change
// (FuzzNormalize holds it to its first definition). One pass, one
// allocation: every create and rename runs it inside the commit.
func Normalize(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	gap := false
	for _, r := range name {
		if r == '-' || r == '_' || r == '.' || unicode.IsSpace(r) {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte(' ')
			gap = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// defaultVague is DefaultVagueNames normalized.
var defaultVague = func() map[string]bool {
	m := make(map[string]bool, len(DefaultVagueNames))
	for _, n := range DefaultVagueNames {
		m[Normalize(n)] = true
	}
	return m
}()

// IsVague reports whether name is one of the policy's vague names.
func IsVague(p *gatepassv1.Policy, name string) bool {
	n := Normalize(name)
	names := p.GetVagueNames()
	if len(names) == 0 {
		return defaultVague[n]
	}
	for _, v := range names {
		if Normalize(v) == n {
			return true
		}
	}
	return false
}

// CheckName applies the naming policy to a new name (the defaults of
// Effective, without copying the policy).
func CheckName(p *gatepassv1.Policy, field, name string) error {
	action := p.GetVagueNameAction()
	if action == gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_UNSPECIFIED {
		action = gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT
	}
	if action == gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT && IsVague(p, name) {
		return &Violation{field, fmt.Sprintf("%q does not say who owns the token or what it is for; try a name like \"ci-regression-runner\"", name)}
	}
	return nil
}

// Expiry decides a new token's expiry under the policy: the requested
// expire_time or never_expires, else the default lifetime. It enforces the
// maximum lifetime and whether "never expires" is allowed.
func Expiry(p *gatepassv1.Policy, now time.Time, expire *timestamppb.Timestamp, never bool) (*timestamppb.Timestamp, bool, error) {
	e := p // the lifetimes have no defaults to fill in (Effective)
	switch {
	case never && e.GetForbidNeverExpires():
		return nil, false, &Violation{"never_expires", "the workspace policy requires tokens to expire"}
	case never && e.GetMaxLifetime() != nil:
		return nil, false, &Violation{"never_expires", fmt.Sprintf("the workspace policy limits tokens to %v", e.GetMaxLifetime().AsDuration())}
	case never:
		return nil, true, nil
	case expire == nil && e.GetDefaultLifetime() == nil:
		return nil, false, &Violation{"expire_time", "is required (or never_expires: true); the workspace has no default lifetime"}
	case expire == nil:
		expire = timestamppb.New(now.Add(e.GetDefaultLifetime().AsDuration()))
	}
	if !expire.AsTime().After(now) {
		return nil, false, &Violation{"expire_time", "must be in the future"}
	}
	if m := e.GetMaxLifetime(); m != nil && expire.AsTime().Sub(now) > m.AsDuration() {
		return nil, false, &Violation{"expire_time", fmt.Sprintf("exceeds the workspace's maximum lifetime of %v", m.AsDuration())}
	}
	return expire, false, nil
}
