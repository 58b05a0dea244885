package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestTokenCommands walks a token through its life with gatepassctl: the
// secret goes to stdout alone, lifecycle changes report receipts, a revoked
// token cannot come back, and rotation links the chain.
func TestTokenCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	secret := strings.TrimSpace(must(t, iss, "token", "create", "--name", "ci-regression-runner", "--role", "tester", "--expires-in", "720h"))
	if !strings.HasPrefix(secret, "gp_") || strings.Contains(secret, "\n") {
		t.Fatalf("stdout is not the secret alone: %q", secret)
	}
	list := must(t, iss, "-o", "json", "token", "list", "--status", "active")
	if !strings.Contains(list, "ci-regression-runner") {
		t.Fatalf("list: %s", list)
	}
	id := tokenNamed(t, iss, "ci-regression-runner")
	if got := must(t, iss, "token", "get", id); !strings.Contains(got, "ci-regression-runner") || strings.Contains(got, secret) {
		t.Fatalf("get: %s", got)
	}
	must(t, iss, "token", "update", id, "--description", "nightly regression suite")
	// Narrowing in place; widening is refused.
	must(t, iss, "token", "update", id, "--role", "viewer", "--cidr", "10.0.0.0/8")
	wantExit(t, iss, exitRefused, "token", "update", id, "--role", "admin")
	wantExit(t, iss, exitRefused, "token", "update", id, "--cidr", "192.168.0.0/16")
	if got := must(t, iss, "-o", "json", "token", "get", id); !strings.Contains(got, "ROLE_VIEWER") || !strings.Contains(got, "10.0.0.0/8") {
		t.Fatalf("after narrowing: %s", got)
	}
	must(t, iss, "token", "disable", id, "--reason", "vendor switch")
	must(t, iss, "token", "enable", id)
	// The first version's single-dash flags still work.
	rotated := must(t, iss, "token", "rotate", id, "-revoke-old-after", "1h", "-name", "ci-regression-runner-2")
	if !strings.HasPrefix(strings.TrimSpace(rotated), "gp_") {
		t.Fatalf("rotate printed %q", rotated)
	}
	if chain := must(t, iss, "token", "chain", id); !strings.Contains(chain, "ci-regression-runner-2") {
		t.Fatalf("chain: %s", chain)
	}
	must(t, iss, "token", "revoke", id, "--reason", "retired", "--cascade")
	wantExit(t, iss, exitRefused, "token", "enable", id)
	// The revoked token's holder is no longer authenticated.
	if code, _, _ := ctl(t, iss, secret, "token", "get", id); code != exitAuth {
		t.Fatalf("revoked token: exit %d, want %d", code, exitAuth)
	}
}

// TestBatchCommands: a dry run lists and changes nothing; the batch then
// revokes what the filter matches.
func TestBatchCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	for _, name := range []string{"legacy-sync-a", "legacy-sync-b", "ci-regression-runner"} {
		must(t, iss, "token", "create", "--name", name, "--role", "tester", "--never-expires")
	}
	if out := must(t, iss, "token", "batch-revoke", "--name-prefix", "legacy-", "--validate-only"); !strings.Contains(out, "would revoke 2 token(s)") {
		t.Fatalf("dry run: %s", out)
	}
	if out := must(t, iss, "token", "list", "--status", "revoked"); strings.Contains(out, "legacy-sync-a") {
		t.Fatalf("the dry run revoked: %s", out)
	}
	must(t, iss, "token", "batch-revoke", "--name-prefix", "legacy-", "--reason", "retired")
	if out := must(t, iss, "token", "list", "--status", "revoked"); !strings.Contains(out, "legacy-sync-a") || !strings.Contains(out, "legacy-sync-b") || strings.Contains(out, "ci-regression-runner") {
		t.Fatalf("after the batch: %s", out)
	}
	must(t, iss, "token", "batch-disable", tokenNamed(t, iss, "ci-regression-runner"))
	wantExit(t, iss, exitUsage, "token", "batch-disable")
	wantExit(t, iss, exitUsage, "token", "batch-disable", "tok_0000000000000000000000", "--owner", "mem_0000000000000000000000")
}

func TestTokenCommandUsage(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	for _, args := range [][]string{
		{"token"},
		{"token", "frobnicate"},
		{"token", "get"},
		{"token", "create", "--no-such-flag"},
		{"token", "create", "--name", "x", "--role", "emperor"},
		{"token", "update", "tok_0000000000000000000000"},
	} {
		wantExit(t, iss, exitUsage, args...)
	}
	wantExit(t, iss, exitRefused, "token", "get", "tok_0000000000000000000000")
	wantExit(t, iss, exitRefused, "token", "create", "--name", "ci", "--role", "tester", "--never-expires")
}

// tokenNamed returns the id of the live token with the name.
func tokenNamed(t *testing.T, iss *issuertest.Issuer, name string) string {
	t.Helper()
	out := must(t, iss, "-o", "json", "token", "list")
	i := strings.Index(out, `"name": "`+name+`"`)
	if i < 0 {
		t.Fatalf("no token %s in %s", name, out)
	}
	j := strings.LastIndex(out[:i], `"id": "tok_`)
	return field(t, out[j:], "id")
}
