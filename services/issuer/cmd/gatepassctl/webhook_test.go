package main

import (
	"strings"
	"testing"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// TestWebhookCommands: register an endpoint (its secret on stdout alone),
// list it, see the delivery a revoke queued, delete it.
func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	iss := issuertest.Start(t)
	// A literal public address: the test issuer delivers nothing.
	secret := strings.TrimSpace(must(t, iss, "webhook", "add", "https://203.0.113.10/hooks", "--events", "token.revoked,token.disabled"))
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "\n") {
		t.Fatalf("stdout is not the secret alone: %q", secret)
	}
	list := must(t, iss, "-o", "json", "webhook", "list")
	id := field(t, list, "id")
	if !strings.Contains(list, "NOTICE_TYPE_TOKEN_REVOKED") || strings.Contains(list, secret) {
		t.Fatalf("list: %s", list)
	}
	must(t, iss, "token", "create", "--name", "ci-regression-runner", "--role", "tester", "--never-expires")
	must(t, iss, "token", "revoke", tokenNamed(t, iss, "ci-regression-runner"))
	if out := must(t, iss, "webhook", "deliveries", id); !strings.Contains(out, "token.revoked") || !strings.Contains(out, "pending") {
		t.Fatalf("deliveries: %s", out)
	}
	must(t, iss, "webhook", "delete", id)
	wantExit(t, iss, exitRefused, "webhook", "deliveries", id)
	wantExit(t, iss, exitRefused, "webhook", "add", "https://127.0.0.1/hooks")
	wantExit(t, iss, exitUsage, "webhook", "add", "https://203.0.113.10/x", "--events", "token.stolen")
}
