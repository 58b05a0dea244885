package roles

import (
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func TestParseAndName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]gatepassv1.Role{"admin": gatepassv1.Role_ROLE_ADMIN, "ROLE_TESTER": gatepassv1.Role_ROLE_TESTER, " Viewer ": gatepassv1.Role_ROLE_VIEWER} {
		if got, ok := Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "root", "ROLE_UNSPECIFIED", "unspecified"} {
		if _, ok := Parse(in); ok {
			t.Errorf("Parse(%q) accepted", in)
		}
	}
	if Name(gatepassv1.Role_ROLE_MAINTAINER) != "maintainer" {
		t.Error(Name(gatepassv1.Role_ROLE_MAINTAINER))
	}
}
