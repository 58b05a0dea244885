package lifecycle

import (
	"errors"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
)

// TestLifecyclePolicies on a fake clock: a token unused for 30 days is
// disabled on day 31, not on day 29; 10 days later it is revoked; a token
// that never expires needs a justification when the policy says so.
func TestLifecyclePolicies(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	if _, err := s.SetPolicy(owner, &gatepassv1.Policy{DisableUnusedDays: 30, RevokeDisabledDays: 10, RequireNeverExpiresJustification: true}); err != nil {
		t.Fatal(err)
	}
	var v *policy.Violation
	if _, err := s.Create(owner, NewToken{Name: "forever-sync", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true}); !errors.As(err, &v) || v.Field != "never_expires_justification" {
		t.Fatalf("unjustified never-expiring token: %v", err)
	}
	c, err := s.Create(owner, NewToken{Name: "forever-sync", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true,
		Justification: "hardware appliance that cannot rotate"})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Token.GetId()
	for _, step := range []struct {
		after time.Duration
		want  gatepassv1.TokenStatus
	}{
		{29 * day, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE},
		{2 * day, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED},
		{9 * day, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED},
		{day, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED},
	} {
		clk.Add(step.after)
		if _, err := s.EnforcePolicies(); err != nil {
			t.Fatal(err)
		}
		if got := tokenOf(t, s, id).GetStatus(); got != step.want {
			t.Fatalf("after %v more: %v, want %v", step.after, got, step.want)
		}
	}
	if reason := tokenOf(t, s, id).GetStatusReason(); reason != "disabled for 10 days (workspace policy)" {
		t.Fatalf("reason %q", reason)
	}
}
