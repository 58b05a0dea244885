package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamRecreated: the token stream is deleted while everything runs.
// The issuer recreates it and republishes every token's state; the running
// validator notices the new stream and replays it; a validator built from
// scratch afterwards knows every token, revocations included.
func TestStreamRecreated(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), pub, filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	ic := issuerClient(t, iss)
	kept := w.createToken(ic, admin, "kept-runner", gatepassv1.Role_ROLE_VIEWER)
	gone := w.createToken(ic, admin, "revoked-runner", gatepassv1.Role_ROLE_VIEWER)
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: gone.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, event.StreamName); err != nil {
		t.Fatal(err)
	}
	// A change after the loss makes the issuer find the stream missing.
	after := w.createToken(ic, admin, "after-the-loss", gatepassv1.Role_ROLE_VIEWER)
	eventually(t, 20*time.Second, "running validator sees the new token", func() bool {
		return reason(t, vc, after.GetSecret()) == "REASON_ACTIVE"
	})
	if got := reason(t, vc, gone.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("running validator, revoked token: %s", got)
	}
	if !strings.Contains(v.stderr.String(), "replaying it from the start") {
		t.Error("the running validator did not notice the new stream")
	}
	fresh := w.startValidator("fresh", ns.ClientURL(), pub, filepath.Join(dir, "fresh.db"), 3*time.Second)
	fc := validatorClient(t, fresh)
	eventually(t, 10*time.Second, "fresh validator serving", func() bool { return reason(t, fc, after.GetSecret()) == "REASON_ACTIVE" })
	for secret, want := range map[string]string{kept.GetSecret(): "REASON_ACTIVE", gone.GetSecret(): "REASON_REVOKED"} {
		if got := reason(t, fc, secret); got != want {
			t.Fatalf("fresh validator after the stream was rebuilt: %s, want %s", got, want)
		}
	}
}
