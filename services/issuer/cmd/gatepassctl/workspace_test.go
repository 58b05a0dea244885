package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

func TestWorkspaceCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	if out := must(t, iss, "workspace", "get"); !strings.Contains(out, "acme") {
		t.Fatalf("workspace get: %s", out)
	}
	if code, _, errOut := ctl(t, iss, "", "workspace", "get"); code != exitAuth || !strings.Contains(errOut, "GATEPASS_TOKEN") {
		t.Fatalf("no credential: exit %d, %s", code, errOut)
	}
	if code, _, _ := ctl(t, iss, "gp_"+strings.Repeat("0", 36), "workspace", "get"); code != exitAuth {
		t.Fatalf("bad credential: exit %d", code)
	}
}

// TestHelpAndCompletion: help comes from the command definitions, shell
// completion is generated, and roles complete.
func TestHelpAndCompletion(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	if out := must(t, iss, "token", "create", "--help"); !strings.Contains(out, "--never-expires") {
		t.Fatalf("help: %s", out)
	}
	if out := must(t, iss, "completion", "bash"); !strings.Contains(out, "gatepassctl") {
		t.Fatal("no bash completion")
	}
	if out := must(t, iss, "__complete", "token", "create", "--role", ""); !strings.Contains(out, "maintainer") {
		t.Fatalf("role completion: %s", out)
	}
}
