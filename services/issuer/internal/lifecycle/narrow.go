package lifecycle

import (
	"fmt"
	"net/netip"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Narrowing is what may change about a token's access in place: only
// ever narrower. Zero fields leave the token as it is.
type Narrowing struct {
	// Role, when set, is at most the token's.
	Role gatepassv1.Role
	// ProjectID moves a workspace token into one of its projects.
	ProjectID string
	// AllowedCIDRs, when non-nil, each lie inside a network the token
	// already allows (any, when it allowed every network); never empty.
	AllowedCIDRs []string
	// ExpireTime, when set, is earlier than the token's expiry (any future
	// time, for a token that never expired).
	ExpireTime *timestamppb.Timestamp
}

// widens is the error of a narrowing that would widen the token.
func widens(field, why string) error {
	return &policy.Violation{Field: field, Msg: why + " would widen the token; widening access means a new token"}
}

// narrow applies n to t and returns what changed, for the audit record. It
// refuses, naming the field, anything that would widen t's access.
func narrow(tx *store.Tx, t *gatepassv1.Token, n Narrowing, now time.Time) ([]string, error) {
	var changes []string
	if n.Role != 0 && n.Role != t.GetRole() {
		if n.Role > t.GetRole() {
			return nil, widens("role", fmt.Sprintf("raising the role from %s to %s", roles.Name(t.GetRole()), roles.Name(n.Role)))
		}
		changes = append(changes, fmt.Sprintf("role %s -> %s", roles.Name(t.GetRole()), roles.Name(n.Role)))
		t.Role = n.Role
	}
	if n.ProjectID != "" && n.ProjectID != t.GetProjectId() {
		if t.GetProjectId() != "" {
			return nil, widens("project_id", "moving a project token to another project")
		}
		if err := checkProject(tx, t.GetWorkspaceId(), n.ProjectID); err != nil {
			return nil, err
		}
		changes = append(changes, "project -> "+n.ProjectID)
		t.ProjectId = n.ProjectID
	}
	if n.AllowedCIDRs != nil {
		if err := inside(n.AllowedCIDRs, t.GetAllowedCidrs()); err != nil {
			return nil, err
		}
		changes = append(changes, fmt.Sprintf("allowed_cidrs %v -> %v", t.GetAllowedCidrs(), n.AllowedCIDRs))
		t.AllowedCidrs = n.AllowedCIDRs
	}
	if at := n.ExpireTime; at != nil && (t.GetExpireTime() == nil || !at.AsTime().Equal(t.GetExpireTime().AsTime())) {
		switch {
		case !at.AsTime().After(now):
			return nil, &policy.Violation{Field: "expire_time", Msg: "must be in the future"}
		case !t.GetNeverExpires() && t.GetExpireTime() != nil && at.AsTime().After(t.GetExpireTime().AsTime()):
			return nil, widens("expire_time", "a later expiry")
		}
		changes = append(changes, "expire_time -> "+at.AsTime().UTC().Format(time.RFC3339))
		t.ExpireTime, t.NeverExpires = at, false
	}
	return changes, nil
}

// inside checks that every network of next lies inside one of allowed (an
// empty allowed list allows every network) and that next is not empty.
func inside(next, allowed []string) error {
	if len(next) == 0 {
		return widens("allowed_cidrs", "allowing every network")
	}
	var outer []netip.Prefix
	for _, a := range allowed {
		if p, err := netip.ParsePrefix(a); err == nil {
			outer = append(outer, p)
		}
	}
	for i, c := range next {
		p, err := netip.ParsePrefix(c)
		if err != nil || p != p.Masked() {
			return &policy.Violation{Field: fmt.Sprintf("allowed_cidrs[%d]", i), Msg: "must be a network in CIDR notation"}
		}
		if len(allowed) == 0 {
			continue
		}
		ok := false
		for _, o := range outer {
			ok = ok || (o.Addr().Is4() == p.Addr().Is4() && o.Bits() <= p.Bits() && o.Contains(p.Addr()))
		}
		if !ok {
			return widens(fmt.Sprintf("allowed_cidrs[%d]", i), c+", outside the networks the token allows,")
		}
	}
	return nil
}
