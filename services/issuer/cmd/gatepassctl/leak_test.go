package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestLeakCommands: secrets reported on stdin are revoked; the secret is
// not echoed; its holder is locked out.
func TestLeakCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	secret := strings.TrimSpace(must(t, iss, "token", "create", "--name", "ci-regression-runner", "--role", "tester", "--never-expires"))
	code, out, errOut := ctlIn(t, iss, iss.Owner, secret+"\ngp_nottoken\n", "leak", "report", "--source", "https://example.com/paste/1")
	if code != exitOK || !strings.Contains(out, "revoke") || strings.Contains(out+errOut, secret) {
		t.Fatalf("leak report: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := ctl(t, iss, secret, "token", "list"); code != exitAuth {
		t.Fatalf("the leaked token still authenticates: exit %d", code)
	}
	if code, _, _ := ctlIn(t, iss, iss.Owner, "", "leak", "report"); code != exitUsage {
		t.Fatalf("no secrets: exit %d", code)
	}
}
