package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestPolicyCommands: a policy set with gatepassctl is shown by policy get
// and enforced on the next create.
func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	must(t, iss, "policy", "set", "--max-lifetime", "720h", "--default-lifetime", "168h", "--forbid-never-expires=true")
	if got := must(t, iss, "policy", "get"); !strings.Contains(got, "720h") {
		t.Fatalf("policy get: %s", got)
	}
	wantExit(t, iss, exitRefused, "token", "create", "--name", "forever-runner", "--role", "tester", "--never-expires")
	wantExit(t, iss, exitRefused, "token", "create", "--name", "long-runner", "--role", "tester", "--expires-in", "1000h")
	must(t, iss, "token", "create", "--name", "weekly-runner", "--role", "tester")
	must(t, iss, "policy", "set", "--forbid-never-expires=false", "--max-lifetime", "0", "--require-never-expires-justification", "--disable-unused-days", "90",
		"--expiry-notice-days", "14,3")
	got := must(t, iss, "policy", "get")
	for _, want := range []string{"disable unused after days            90", "[14 3]"} {
		if !strings.Contains(got, want) {
			t.Fatalf("policy get lacks %q:\n%s", want, got)
		}
	}
	wantExit(t, iss, exitRefused, "token", "create", "--name", "forever-runner", "--role", "tester", "--never-expires")
	must(t, iss, "token", "create", "--name", "forever-runner", "--role", "tester", "--never-expires", "--justification", "appliance firmware cannot rotate")
	wantExit(t, iss, exitUsage, "policy", "set", "--expiry-notice-days", "soon")
}
