package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestReviewAndAuditCommands: review flags a vague name and a token that
// never expires; the audit trail shows who revoked what and why.
func TestReviewAndAuditCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	must(t, iss, "policy", "set", "--vague-action", "flag")
	must(t, iss, "token", "create", "--name", "automation", "--role", "tester", "--never-expires")
	out := must(t, iss, "review", "--min-severity", "low")
	for _, want := range []string{"automation", "vague_name", "no_expiry"} {
		if !strings.Contains(out, want) {
			t.Fatalf("review lacks %s:\n%s", want, out)
		}
	}
	id := tokenNamed(t, iss, "automation")
	must(t, iss, "token", "revoke", id, "--reason", "vague and eternal")
	audit := must(t, iss, "audit", "--target", id, "--action", "token.*")
	if !strings.Contains(audit, "token.revoke") || !strings.Contains(audit, "vague and eternal") {
		t.Fatalf("audit:\n%s", audit)
	}
	wantExit(t, iss, exitUsage, "review", "--min-severity", "dire")
}
