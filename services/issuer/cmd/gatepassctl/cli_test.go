package main

import (
	"bytes"
	"errors"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestCleanEscapesControlAndFormatCharacters: stored text reaches the
// terminal with escape sequences, bidi overrides and tabs made visible.
func TestCleanEscapesControlAndFormatCharacters(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ci-regression-runner": "ci-regression-runner",
		"red\x1b[31malert":     `red\u001b[31malert`,
		"admin\u202egnp.exe":   `admin\u202egnp.exe`,
		"zero\u200bwidth":      `zero\u200bwidth`,
		"tab\there":            `tab\u0009here`,
		"résumé":               "résumé",
		"bad\xffutf8":          `bad\ufffdutf8`,
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIncompleteReceiptHasItsOwnExitCode: a disable or revoke whose receipt
// is incomplete is committed but not confirmed; scripts must be able to
// tell that from success and from failure.
func TestIncompleteReceiptHasItsOwnExitCode(t *testing.T) {
	t.Parallel()
	c := &cli{stderr: &bytes.Buffer{}}
	if got := c.report(unconfirmed(&gatepassv1.PropagationReceipt{Complete: false}, nil)); got != exitUnconfirmed {
		t.Fatalf("incomplete receipt: exit %d, want %d", got, exitUnconfirmed)
	}
	if got := c.report(unconfirmed(&gatepassv1.PropagationReceipt{Complete: true}, nil)); got != exitOK {
		t.Fatalf("complete receipt: exit %d", got)
	}
	if got := c.report(unconfirmed(&gatepassv1.PropagationReceipt{}, errors.New("network"))); got != exitServer {
		t.Fatalf("failed call: exit %d", got)
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:7401": true, "[::1]:7401": true, "localhost:7401": true,
		"10.0.0.5:7401": false, "issuer.example.com:443": false, "192.0.2.1": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}
