package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"
)

// ctl runs gatepassctl against iss as the holder of secret and returns its
// exit code and output.
func ctl(t *testing.T, iss *issuertest.Issuer, secret string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return ctlIn(t, iss, secret, "", args...)
}

// ctlIn is ctl with stdin.
func ctlIn(t *testing.T, iss *issuertest.Issuer, secret, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{"GATEPASS_ISSUER_ADDR": iss.Addr, "GATEPASS_TOKEN": secret}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// must runs gatepassctl as the owner and fails the test unless it exits 0.
func must(t *testing.T, iss *issuertest.Issuer, args ...string) string {
	t.Helper()
	code, out, errOut := ctl(t, iss, iss.Owner, args...)
	if code != exitOK {
		t.Fatalf("gatepassctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// wantExit runs gatepassctl as the owner and checks its exit code.
func wantExit(t *testing.T, iss *issuertest.Issuer, want int, args ...string) string {
	t.Helper()
	code, out, errOut := ctl(t, iss, iss.Owner, args...)
	if code != want {
		t.Fatalf("gatepassctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return errOut
}

// field returns the value of "key": "value" in JSON output.
func field(t *testing.T, out, key string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, `"`+key+`": "`)
	if !ok {
		t.Fatalf("no %q in %s", key, out)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
