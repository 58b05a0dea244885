package roles

import (
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func TestParseAndName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]gatepassv1.Role{"admin": gatepassv1.Role_ROLE_ADMIN, "ROLE_TESTER": gatepassv1.Role_ROLE_TESTER, " Viewer ": gatepassv1.Role_ROLE_VIEWER, "role_Admin": gatepassv1.Role_ROLE_ADMIN} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "root", "ROLE_UNSPECIFIED", "unspecified", "ROLE_", "ROLE_ROLE_ADMIN", "admins"} {
		if _, ok := Parse(in); ok {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	if Name(gatepassv1.Role_ROLE_MAINTAINER) != "maintainer" {
		t.Error(Name(gatepassv1.Role_ROLE_MAINTAINER))
	}
}

// TestParseAllocatesNothing: gateways parse a route's min_role on every
// check.
func TestParseAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse("Tester") }); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}
