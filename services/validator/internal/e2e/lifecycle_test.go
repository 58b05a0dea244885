package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/follow"
	"github.com/gatepass/gatepass/services/validator/internal/rpc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func validateFrom(t testing.TB, v gatepassv1.ValidatorServiceClient, secret, ip string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := v.ValidateToken(ctx, &gatepassv1.ValidateTokenRequest{Token: secret, ClientIp: ip})
	if err != nil {
		return "error:" + statusCode(err)
	}
	return resp.GetReason().String()
}

// TestRotationFiveSteps walks the product's rotation guidance end to end:
// create a replacement, switch the system over, confirm it works from
// last-use data, let the old token be disabled on schedule (across an
// issuer restart), then revoke it.
func TestRotationFiveSteps(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	data := filepath.Join(dir, "issuer")
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), pub, filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	ic := issuerClient(t, iss)
	old := w.createTokenWith(ic, admin, &gatepassv1.CreateTokenRequest{
		Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, ExpireTime: timestamppb.New(time.Now().Add(30 * 24 * time.Hour)),
	})
	eventually(t, 10*time.Second, "old token valid", func() bool { return validateFrom(t, vc, old.GetSecret(), "10.0.0.1") == "REASON_ACTIVE" })

	// Step 1: a replacement with the same access; the old one ends on schedule.
	rot, err := ic.RotateToken(authed(t, admin), &gatepassv1.RotateTokenRequest{
		TokenId: old.GetToken().GetId(), DisableOldAfter: durationpb.New(4 * time.Second), Reason: "quarterly rotation",
	})
	if err != nil {
		t.Fatal(err)
	}
	w.secret(rot.GetSecret())
	if !rot.GetReceipt().GetComplete() {
		t.Fatalf("rotation receipt: %v", rot.GetReceipt())
	}
	// Step 2: the pipeline switches over and uses the new secret.
	for range 3 {
		if got := validateFrom(t, vc, rot.GetSecret(), "10.0.0.2"); got != "REASON_ACTIVE" {
			t.Fatalf("replacement: %s", got)
		}
	}
	// Step 3: confirm it works: GetToken shows when each was last used.
	var oldT, newT *gatepassv1.Token
	eventually(t, 10*time.Second, "usage reaches the issuer", func() bool {
		o, err1 := ic.GetToken(authed(t, admin), &gatepassv1.GetTokenRequest{TokenId: old.GetToken().GetId()})
		n, err2 := ic.GetToken(authed(t, admin), &gatepassv1.GetTokenRequest{TokenId: rot.GetToken().GetId()})
		if err1 != nil || err2 != nil {
			return false
		}
		oldT, newT = o.GetToken(), n.GetToken()
		return oldT.GetLastUsedTime() != nil && newT.GetUseCount() >= 3
	})
	if newT.GetLastUsedIp() != "10.0.0.2" || oldT.GetLastUsedIp() != "10.0.0.1" || !newT.GetLastUsedTime().AsTime().After(oldT.GetLastUsedTime().AsTime()) {
		t.Fatalf("last use: old %v from %s, new %v from %s", oldT.GetLastUsedTime(), oldT.GetLastUsedIp(), newT.GetLastUsedTime(), newT.GetLastUsedIp())
	}
	// Step 4: the scheduled disable fires even though the issuer was down
	// when it fell due.
	iss.stop(t)
	time.Sleep(5 * time.Second)
	if got := validateFrom(t, vc, old.GetSecret(), "10.0.0.1"); got != "REASON_ACTIVE" {
		t.Fatalf("old token changed while the issuer was down: %s", got)
	}
	iss = w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data})
	ic = issuerClient(t, iss)
	eventually(t, 10*time.Second, "scheduled disable after restart", func() bool {
		return validateFrom(t, vc, old.GetSecret(), "10.0.0.1") == "REASON_DISABLED"
	})
	if got := validateFrom(t, vc, rot.GetSecret(), "10.0.0.2"); got != "REASON_ACTIVE" {
		t.Fatalf("replacement after the old one's disable: %s", got)
	}
	// Someone still presents the old token: review says so.
	eventually(t, 10*time.Second, "review sees use after disable", func() bool {
		validateFrom(t, vc, old.GetSecret(), "10.0.0.1")
		rev, err := ic.ReviewTokens(authed(t, admin), &gatepassv1.ReviewTokensRequest{})
		if err != nil {
			return false
		}
		for _, f := range rev.GetFindings() {
			if f.GetTokenId() == old.GetToken().GetId() && f.GetType() == gatepassv1.FindingType_FINDING_TYPE_USED_WHILE_DISABLED {
				return true
			}
		}
		return false
	})
	// Step 5: revoke.
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: old.GetToken().GetId(), Reason: "rotation complete"}); err != nil {
		t.Fatal(err)
	}
	if got := validateFrom(t, vc, old.GetSecret(), "10.0.0.1"); got != "REASON_REVOKED" {
		t.Fatalf("after revoke: %s", got)
	}
	audit, err := ic.ListAuditEvents(authed(t, admin), &gatepassv1.ListAuditEventsRequest{TargetId: old.GetToken().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit.GetEvents() {
		if a.GetAction() != "token.attempt" {
			actions = append(actions, a.GetAction())
		}
	}
	if strings.Join(actions, ",") != "token.revoke,token.disable,token.rotate,token.create" {
		t.Fatalf("old token's trail: %v", actions)
	}
}

// TestExpiryAtTheInstant runs the validator's own cache, follower and
// handler on a fake clock against a real issuer and NATS: a token is active
// until the nanosecond its expiry falls due, then expired, with no event.
func TestExpiryAtTheInstant(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	expire := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := w.createTokenWith(issuerClient(t, iss), iss.vars["GATEPASS_TOKEN"], &gatepassv1.CreateTokenRequest{
		Name: "expiring-runner", Role: gatepassv1.Role_ROLE_VIEWER, ExpireTime: timestamppb.New(expire),
	})
	c, err := cache.Open(filepath.Join(dir, "fake.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	verifier, err := event.NewVerifier(iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	f := follow.New(c, verifier, follow.Options{ID: "fake", Staleness: time.Hour, MaxClockSkew: time.Second, ReportInterval: time.Second, Logger: log, Now: time.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx, nc, js); close(done) }()
	defer func() { cancel(); <-done }()
	sec, _ := token.Format{}.Parse(tok.GetSecret())
	eventually(t, 10*time.Second, "token in the cache", func() bool { _, err := c.Lookup(sec.Digest()); return err == nil })

	clk := fakeclock.New(expire.Add(-time.Minute))
	s := &rpc.Server{Store: c, Current: f.Current, Now: clk.Now, Logger: log}
	check := func() gatepassv1.Reason {
		resp, err := s.ValidateToken(context.Background(), &gatepassv1.ValidateTokenRequest{Token: tok.GetSecret()})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReason()
	}
	if got := check(); got != gatepassv1.Reason_REASON_ACTIVE {
		t.Fatalf("a minute before expiry: %v", got)
	}
	clk.Add(time.Minute - time.Nanosecond)
	if got := check(); got != gatepassv1.Reason_REASON_ACTIVE {
		t.Fatalf("a nanosecond before expiry: %v", got)
	}
	clk.Add(time.Nanosecond)
	if got := check(); got != gatepassv1.Reason_REASON_EXPIRED {
		t.Fatalf("at expiry: %v", got)
	}
}

// ctl runs gatepassctl with the environment make run prints.
func ctl(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "gatepassctl"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestCLIWalkthrough drives gatepassctl against a real issuer: create,
// rotate, disable, revoke, with JSON parsed back and exit codes checked.
func TestCLIWalkthrough(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	v := w.startValidator("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	env := map[string]string{"GATEPASS_ISSUER_ADDR": iss.vars["GATEPASS_ISSUER_ADDR"], "GATEPASS_TOKEN": iss.vars["GATEPASS_TOKEN"]}
	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := ctl(t, env, "", args...)
		if code != want {
			t.Fatalf("gatepassctl %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
		}
		for _, s := range w.secrets {
			if strings.Contains(errOut, s) {
				t.Fatalf("gatepassctl %v wrote a secret to stderr", args)
			}
		}
		return out
	}
	var project gatepassv1.CreateProjectResponse
	mustJSON(t, run(0, "-o", "json", "project", "create", "checkout"), &project)

	// create: the secret alone on stdout.
	secret := strings.TrimSpace(run(0, "token", "create", "-name", "ci-regression-runner", "-role", "tester",
		"-project", project.GetProject().GetId(), "-expires-in", "720h"))
	w.secret(secret)
	if _, err := (token.Format{}).Parse(secret); err != nil {
		t.Fatalf("stdout is not the secret alone: %q", secret)
	}
	eventually(t, 10*time.Second, "created token valid", func() bool { return validateFrom(t, vc, secret, "") == "REASON_ACTIVE" })

	var list gatepassv1.ListTokensResponse
	mustJSON(t, run(0, "token", "list", "-o", "json", "-project", project.GetProject().GetId()), &list)
	if len(list.GetTokens()) != 1 || list.GetTokens()[0].GetName() != "ci-regression-runner" {
		t.Fatalf("list: %v", list.GetTokens())
	}
	id := list.GetTokens()[0].GetId()
	if table := run(0, "token", "list"); !strings.Contains(table, "ci-regression-runner") || !strings.Contains(table, "STATUS") {
		t.Fatalf("table output: %s", table)
	}

	// rotate: the new secret into a 0600 file, the token as JSON on stdout.
	secretFile := filepath.Join(t.TempDir(), "new-secret")
	var rotated gatepassv1.Token
	mustJSON(t, run(0, "-o", "json", "token", "rotate", id, "-disable-old-after", "1h", "-secret-file", secretFile), &rotated)
	b, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	newSecret := w.secret(strings.TrimSpace(string(b)))
	if fi, _ := os.Stat(secretFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v", fi.Mode().Perm())
	}
	if rotated.GetReplacesTokenId() != id {
		t.Fatalf("rotated: %v", &rotated)
	}
	eventually(t, 10*time.Second, "rotated token valid", func() bool { return validateFrom(t, vc, newSecret, "") == "REASON_ACTIVE" })
	run(1, "token", "rotate", id, "-secret-file", filepath.Join(t.TempDir(), "again")) // already rotated
	var chain gatepassv1.ListTokensResponse
	mustJSON(t, run(0, "-o", "json", "token", "chain", rotated.GetId()), &chain)
	if len(chain.GetTokens()) != 2 || chain.GetTokens()[0].GetId() != id || chain.GetTokens()[1].GetId() != rotated.GetId() {
		t.Fatalf("chain: %v", chain.GetTokens())
	}

	// disable, then revoke the old token; the validator follows.
	var disabled gatepassv1.DisableTokenResponse
	mustJSON(t, run(0, "-o", "json", "token", "disable", id, "-reason", "switched over"), &disabled)
	if disabled.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED || !disabled.GetReceipt().GetComplete() {
		t.Fatalf("disable: %v", &disabled)
	}
	if got := validateFrom(t, vc, secret, ""); got != "REASON_DISABLED" {
		t.Fatalf("after disable: %s", got)
	}
	run(0, "token", "revoke", id, "-reason", "rotation complete")
	if got := validateFrom(t, vc, secret, ""); got != "REASON_REVOKED" {
		t.Fatalf("after revoke: %s", got)
	}
	run(1, "token", "enable", id) // revoked is final

	var review gatepassv1.ReviewTokensResponse
	mustJSON(t, run(0, "review", "-o", "json"), &review)
	var audit gatepassv1.ListAuditEventsResponse
	mustJSON(t, run(0, "audit", "-o", "json", "-target", id), &audit)
	var changes []string
	for _, a := range audit.GetEvents() {
		if a.GetAction() != "token.attempt" { // the test's own validations of dead tokens
			changes = append(changes, a.GetAction())
		}
	}
	if strings.Join(changes, ",") != "token.revoke,token.disable,token.rotate,token.create" {
		t.Fatalf("audit of the old token: %v", changes)
	}

	// Exit codes: usage, auth, refused, server.
	run(2, "token", "frobnicate")
	run(2, "token", "get")
	run(2, "token", "create", "-role", "emperor", "-name", "x-y-z")
	run(1, "token", "get", "tok_0000000000000000000000")
	run(1, "token", "create", "-name", "token", "-role", "viewer", "-never-expires")
	if _, _, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": env["GATEPASS_ISSUER_ADDR"], "GATEPASS_TOKEN": "gp_" + strings.Repeat("A", 36)}, "", "token", "list"); code != 3 {
		t.Fatalf("bad credential: exit %d, want 3", code)
	}
	if _, _, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": env["GATEPASS_ISSUER_ADDR"]}, "", "token", "list"); code != 3 {
		t.Fatalf("no credential: exit %d, want 3", code)
	}
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(env["GATEPASS_TOKEN"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": env["GATEPASS_ISSUER_ADDR"]}, "", "-token-file", tokenFile, "workspace", "get"); code != 0 {
		t.Fatalf("token file: exit %d", code)
	}
	if _, _, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": freeAddr(t), "GATEPASS_TOKEN": env["GATEPASS_TOKEN"]}, "", "-timeout", "2s", "token", "list"); code != 4 {
		t.Fatalf("issuer unreachable: exit %d, want 4", code)
	}
	// No token goes in plaintext to an issuer off this machine by accident.
	if _, errOut, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": "192.0.2.1:7401", "GATEPASS_TOKEN": env["GATEPASS_TOKEN"]}, "", "token", "list"); code != 2 || !strings.Contains(errOut, "plaintext") {
		t.Fatalf("plaintext to a remote issuer: exit %d, %s", code, errOut)
	}
	if _, _, code := ctl(t, map[string]string{"GATEPASS_ISSUER_ADDR": "192.0.2.1:7401", "GATEPASS_TOKEN": env["GATEPASS_TOKEN"]}, "", "-insecure", "-timeout", "1s", "token", "list"); code != 4 {
		t.Fatalf("-insecure to an unreachable issuer: exit %d, want 4", code)
	}
	// Revoking with -cascade ends the rotated chain.
	out := run(0, "token", "revoke", chain.GetTokens()[0].GetId(), "-cascade", "-reason", "leaked")
	if !strings.Contains(out, "successor "+rotated.GetId()+" revoked too") {
		t.Fatalf("cascade output: %s", out)
	}
	if got := validateFrom(t, vc, newSecret, ""); got != "REASON_REVOKED" {
		t.Fatalf("successor after the cascade: %s", got)
	}
}

func mustJSON(t *testing.T, s string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
}
