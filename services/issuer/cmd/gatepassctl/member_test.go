package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestMemberCommands: add a member, give them a token, demote them (their
// token is capped), remove them (their token is disabled).
func TestMemberCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	id := field(t, must(t, iss, "-o", "json", "member", "add", "--name", "Ada", "--role", "admin", "--email", "ada@example.com"), "id")
	if list := must(t, iss, "member", "list"); !strings.Contains(list, "Ada") {
		t.Fatalf("list: %s", list)
	}
	must(t, iss, "token", "create", "--name", "ada-release-bot", "--role", "admin", "--owner", id, "--never-expires")
	tok := tokenNamed(t, iss, "ada-release-bot")
	must(t, iss, "member", "update", id, "--role", "tester")
	if got := must(t, iss, "-o", "json", "token", "get", tok); !strings.Contains(got, "ROLE_TESTER") {
		t.Fatalf("token after demotion: %s", got)
	}
	must(t, iss, "member", "remove", id)
	if got := must(t, iss, "-o", "json", "token", "get", tok); !strings.Contains(got, "TOKEN_STATUS_DISABLED") {
		t.Fatalf("token after removal: %s", got)
	}
	wantExit(t, iss, exitRefused, "member", "update", id, "--role", "viewer") // removed
	wantExit(t, iss, exitUsage, "member", "add", "--name", "Bob", "--role", "king")
}
