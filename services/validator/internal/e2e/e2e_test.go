// Package e2e runs gatepass as real processes: the issuer and validator
// binaries, built with the race detector, talking over a real NATS
// JetStream server.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// TestRevokeWhileHammered: issuer with embedded NATS, two validators under
// concurrent load; no validation that starts after RevokeToken returns may
// accept the token.
func TestRevokeWhileHammered(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	iss := w.startIssuer(issuerOpts{dataDir: filepath.Join(dir, "issuer")})
	natsURL, pub := iss.vars["GATEPASS_NATS_URL"], iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"]
	v1 := w.startValidator("v1", natsURL, pub, filepath.Join(dir, "v1.db"), 3*time.Second)
	v2 := w.startValidator("v2", natsURL, pub, filepath.Join(dir, "v2.db"), 3*time.Second)
	ic := issuerClient(t, iss)
	admin := iss.vars["GATEPASS_TOKEN"]
	vals := []gatepassv1.ValidatorServiceClient{validatorClient(t, v1), validatorClient(t, v2)}

	// Both validators must be live before the receipt can speak for them.
	var created *gatepassv1.CreateTokenResponse
	attempt := 0
	eventually(t, 20*time.Second, "both validators live", func() bool {
		attempt++ // names of live tokens are unique
		created = w.createToken(ic, admin, fmt.Sprintf("ci-regression-runner-%d", attempt), gatepassv1.Role_ROLE_TESTER)
		return created.GetReceipt().GetValidatorsLive() == 2
	})
	if r := created.GetReceipt(); !r.GetComplete() || r.GetValidatorsApplied() != 2 {
		t.Fatalf("create receipt = %v", r)
	}
	secret := created.GetSecret()
	for i, v := range vals {
		resp, err := validate(t, v, secret)
		if err != nil || !resp.GetActive() || resp.GetTokenId() != created.GetToken().GetId() || resp.GetRole() != gatepassv1.Role_ROLE_TESTER {
			t.Fatalf("validator %d right after create: %v %v", i+1, resp, err)
		}
	}

	type result struct {
		start  time.Time
		active bool
	}
	var (
		mu      sync.Mutex
		results []result
		errs    atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for _, v := range vals {
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					resp, err := validate(t, v, secret)
					if err != nil {
						errs.Add(1)
						continue
					}
					mu.Lock()
					results = append(results, result{start, resp.GetActive()})
					mu.Unlock()
				}
			})
		}
	}
	time.Sleep(300 * time.Millisecond)
	rev, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: created.GetToken().GetId(), Reason: "leaked in a build log"})
	returned := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	if r := rev.GetReceipt(); !r.GetComplete() || r.GetValidatorsApplied() != 2 || r.GetValidatorsLive() != 2 {
		t.Fatalf("revoke receipt = %v", r)
	}
	var before, after, acceptedAfter int
	for _, r := range results {
		if r.start.After(returned) {
			after++
			if r.active {
				acceptedAfter++
			}
		} else if r.active {
			before++
		}
	}
	t.Logf("%d accepted before the revoke, %d validations after it, %d RPC errors, receipt %v", before, after, errs.Load(), rev.GetReceipt())
	if before == 0 || after == 0 {
		t.Fatalf("load did not span the revoke: %d before, %d after", before, after)
	}
	if acceptedAfter > 0 {
		t.Fatalf("%d validations started after RevokeToken returned accepted the token", acceptedAfter)
	}
	if errs.Load() > 0 {
		t.Fatalf("%d validation RPCs failed", errs.Load())
	}
}

// TestValidatorResumesAfterRestart: a validator killed with SIGKILL and
// started again continues from the sequence stored in its cache, with every
// token it had applied.
func TestValidatorResumesAfterRestart(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	iss := w.startIssuer(issuerOpts{dataDir: filepath.Join(dir, "issuer")})
	natsURL, pub := iss.vars["GATEPASS_NATS_URL"], iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"]
	cache := filepath.Join(dir, "v.db")
	v := w.startValidator("v", natsURL, pub, cache, 3*time.Second)
	ic := issuerClient(t, iss)
	admin := iss.vars["GATEPASS_TOKEN"]
	var old []*gatepassv1.CreateTokenResponse
	for _, n := range []string{"sync-one", "sync-two", "sync-three"} {
		old = append(old, w.createToken(ic, admin, n, gatepassv1.Role_ROLE_VIEWER))
	}
	vc := validatorClient(t, v)
	eventually(t, 10*time.Second, "old tokens valid", func() bool { return reason(t, vc, old[2].GetSecret()) == "REASON_ACTIVE" })
	lastSeq := old[2].GetReceipt().GetSequence()
	// Batches are committed together within 20 ms of being applied, and
	// when the stream goes quiet: give that time, then crash. (A crash
	// sooner loses the last batches from disk, and the catch-up at start
	// re-applies them before the validator serves.)
	time.Sleep(200 * time.Millisecond)
	v.kill9() // a crash, not a clean stop: the cache must still be whole

	added := w.createToken(ic, admin, "sync-after-restart", gatepassv1.Role_ROLE_VIEWER)
	v = w.startValidator("v-restarted", natsURL, pub, cache, 3*time.Second)
	vc = validatorClient(t, v)
	eventually(t, 10*time.Second, "new token valid after restart", func() bool { return reason(t, vc, added.GetSecret()) == "REASON_ACTIVE" })
	for _, o := range old {
		if got := reason(t, vc, o.GetSecret()); got != "REASON_ACTIVE" {
			t.Fatalf("old token after restart: %s", got)
		}
	}
	from := logField(t, v.stderr.String(), "following token stream", "from_sequence")
	if from != float64(lastSeq+1) {
		t.Fatalf("restarted validator followed from sequence %v, want %d (resume, not replay)", from, lastSeq+1)
	}
	if strings.Contains(v.stderr.String(), "replaying it from the start") {
		t.Fatal("restarted validator replayed the stream")
	}
}

// logField finds the first JSON log line with msg and returns field.
func logField(t testing.TB, logs, msg, field string) any {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m[field]
		}
	}
	t.Fatalf("no log line %q", msg)
	return nil
}

// TestIssuerCrashBetweenCommitAndPublish: the outbox survives kill -9.
func TestIssuerCrashBetweenCommitAndPublish(t *testing.T) {
	w := newWorld(t)
	ns := startNATS(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "issuer")
	iss := w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data})
	pub := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"]
	admin := iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), pub, filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	eventually(t, 10*time.Second, "validator serving", func() bool {
		return reason(t, vc, "gp_"+strings.Repeat("x", 36)) == "REASON_MALFORMED"
	})
	iss.stop(t)

	iss = w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data, env: map[string]string{
		"GATEPASS_FAILPOINT_HALT_PUBLISH": "true", "GATEPASS_PROPAGATION_TIMEOUT": "300ms", "GATEPASS_MAX_ANSWER_BOUND": "200ms",
	}})
	created := w.createToken(issuerClient(t, iss), admin, "crash-survivor", gatepassv1.Role_ROLE_VIEWER)
	if r := created.GetReceipt(); r.GetComplete() || r.GetSequence() != 0 {
		t.Fatalf("failpoint did not hold the event back: %v", r)
	}
	if got := reason(t, vc, created.GetSecret()); got != "REASON_UNKNOWN" {
		t.Fatalf("before the crash the validator says %s, want REASON_UNKNOWN", got)
	}
	iss.kill9()

	w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data})
	eventually(t, 15*time.Second, "event published after restart", func() bool {
		return reason(t, vc, created.GetSecret()) == "REASON_ACTIVE"
	})
}

// TestIssuerDownThenNATSDown: validation survives the issuer, and fails
// closed within the staleness bound once NATS is gone.
func TestIssuerDownThenNATSDown(t *testing.T) {
	const staleness = time.Second
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	v1 := w.startValidator("v1", ns.ClientURL(), pub, filepath.Join(dir, "v1.db"), staleness)
	v2 := w.startValidator("v2", ns.ClientURL(), pub, filepath.Join(dir, "v2.db"), staleness)
	ic := issuerClient(t, iss)
	good := w.createToken(ic, admin, "survives-outage", gatepassv1.Role_ROLE_VIEWER)
	bad := w.createToken(ic, admin, "revoked-before-outage", gatepassv1.Role_ROLE_VIEWER)
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: bad.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	vals := []gatepassv1.ValidatorServiceClient{validatorClient(t, v1), validatorClient(t, v2)}
	for _, v := range vals {
		eventually(t, 10*time.Second, "tokens applied", func() bool {
			return reason(t, v, good.GetSecret()) == "REASON_ACTIVE" && reason(t, v, bad.GetSecret()) == "REASON_REVOKED"
		})
	}

	iss.stop(t)
	until := time.Now().Add(3 * staleness)
	for time.Now().Before(until) {
		for i, v := range vals {
			if got := reason(t, v, good.GetSecret()); got != "REASON_ACTIVE" {
				t.Fatalf("validator %d with the issuer down: %s", i+1, got)
			}
			if got := reason(t, v, bad.GetSecret()); got != "REASON_REVOKED" {
				t.Fatalf("validator %d with the issuer down, revoked token: %s", i+1, got)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	ns.Shutdown()
	stopped := time.Now()
	for i, v := range vals {
		eventually(t, staleness+2*time.Second, "validator fails closed", func() bool {
			return reason(t, v, good.GetSecret()) == "error:Unavailable"
		})
		t.Logf("validator %d refused %v after NATS stopped", i+1, time.Since(stopped))
		if time.Since(stopped) > staleness+time.Second {
			t.Errorf("validator %d answered for %v after losing NATS; bound is %v", i+1, time.Since(stopped), staleness)
		}
	}
	hc := healthpb.NewHealthClient(dial(t, v1.vars["GATEPASS_VALIDATOR_ADDR"]))
	eventually(t, 2*time.Second, "health NOT_SERVING", func() bool {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	})
}

// TestForgedAndReplayedEvents: whoever can publish on NATS cannot mint or
// resurrect a token, for running validators and for new ones.
func TestForgedAndReplayedEvents(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), pub, filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	ic := issuerClient(t, iss)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// Forged: a token signed by another key, and one not signed at all.
	sec, err := token.Format{}.Mint()
	if err != nil {
		t.Fatal(err)
	}
	w.secret(sec.String())
	digest := sec.Digest()
	forged := &gatepassv1.Event{Id: "ev-forged", Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: "tok_0000000000forged00000", Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, Role: gatepassv1.Role_ROLE_OWNER, NeverExpires: true, Version: 1},
		SecretSha256: digest[:],
	}}}
	seed, _ := event.GenerateSeed()
	evil, _ := event.NewSigner(seed)
	forgedBytes, err := evil.Seal(forged)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := proto.Marshal(forged)
	unsigned, _ := proto.Marshal(&gatepassv1.Envelope{Payload: payload})
	// Different subjects: the stream keeps one message per subject.
	if _, err := js.Publish(ctx, event.TokenSubject(forged.GetToken().GetToken().GetId()), forgedBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, event.TokenSubject("tok_0000000000unsigned000"), unsigned); err != nil {
		t.Fatal(err)
	}
	// A real token created afterwards comes later in the stream: once it is
	// valid, the validator has seen the forgeries.
	barrier := w.createToken(ic, admin, "barrier-one", gatepassv1.Role_ROLE_VIEWER)
	eventually(t, 10*time.Second, "barrier applied", func() bool { return reason(t, vc, barrier.GetSecret()) == "REASON_ACTIVE" })
	if got := reason(t, vc, sec.String()); got != "REASON_UNKNOWN" {
		t.Fatalf("forged token: %s, want REASON_UNKNOWN", got)
	}
	// Dropped events are logged once per minute (whoever can publish could
	// otherwise flood the log), with how many since.
	if !strings.Contains(v.stderr.String(), `"msg":"dropped event (unsigned, badly signed or malformed)"`) {
		t.Fatal("validator did not log the dropped events")
	}

	// Replayed: capture a token's signed ACTIVE event, revoke the token,
	// then publish the captured event again.
	victim := w.createToken(ic, admin, "replay-victim", gatepassv1.Role_ROLE_ADMIN)
	stream, err := js.Stream(ctx, event.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	victimSubject := event.TokenSubject(victim.GetToken().GetId())
	captured, err := stream.GetLastMsgForSubject(ctx, victimSubject)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: victim.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, victimSubject, captured.Data); err != nil {
		t.Fatal(err)
	}
	barrier = w.createToken(ic, admin, "barrier-two", gatepassv1.Role_ROLE_VIEWER)
	eventually(t, 10*time.Second, "barrier applied", func() bool { return reason(t, vc, barrier.GetSecret()) == "REASON_ACTIVE" })
	if got := reason(t, vc, victim.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("replayed event brought a revoked token back: %s", got)
	}
	// The issuer repairs the stream, so a validator built from scratch
	// also sees the revocation.
	eventually(t, 10*time.Second, "stream repaired", func() bool {
		m, err := stream.GetLastMsgForSubject(ctx, victimSubject)
		return err == nil && m.Sequence > captured.Sequence && string(m.Data) != string(captured.Data)
	})
	fresh := w.startValidator("fresh", ns.ClientURL(), pub, filepath.Join(dir, "fresh.db"), 3*time.Second)
	fc := validatorClient(t, fresh)
	eventually(t, 10*time.Second, "fresh validator serving", func() bool { return reason(t, fc, barrier.GetSecret()) == "REASON_ACTIVE" })
	if got := reason(t, fc, victim.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("fresh validator after replay: %s", got)
	}
	if got := reason(t, fc, sec.String()); got != "REASON_UNKNOWN" {
		t.Fatalf("fresh validator, forged token: %s", got)
	}
}
