package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

func TestProjectCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	out := must(t, iss, "-o", "json", "project", "create", "checkout")
	id := field(t, out, "id")
	if !strings.HasPrefix(id, "prj_") {
		t.Fatalf("project id %q", id)
	}
	if list := must(t, iss, "project", "list"); !strings.Contains(list, id) || !strings.Contains(list, "checkout") {
		t.Fatalf("list: %s", list)
	}
	// A token of the project, then only the project's tokens are listed.
	must(t, iss, "token", "create", "--name", "checkout-smoke-tests", "--role", "tester", "--project", id, "--never-expires")
	if list := must(t, iss, "token", "list", "--project", id); !strings.Contains(list, "checkout-smoke-tests") || strings.Contains(list, "bootstrap-owner") {
		t.Fatalf("project token list: %s", list)
	}
	wantExit(t, iss, exitUsage, "project", "create")
	wantExit(t, iss, exitRefused, "project", "create", strings.Repeat("p", 65))
}
