package natsembed

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEmbeddedServerRequiresCredentials: with users set, nobody connects
// without credentials, and a validator's user can read the token stream and
// report but neither publish on the stream's subjects nor purge it.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	t.Parallel()
	s, err := Start(Options{Addr: "127.0.0.1:0", StoreDir: t.TempDir(), Users: []User{IssuerUser("i-secret"), ValidatorUser("v-secret")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("gatepass-validator", "wrong")); err == nil {
		nc.Close()
		t.Fatal("connected with a wrong password")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	issuer, err := nats.Connect(s.ClientURL(), nats.UserInfo("gatepass-issuer", "i-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer issuer.Close()
	ijs, _ := jetstream.New(issuer)
	if _, err := ijs.CreateStream(ctx, jetstream.StreamConfig{Name: "GATEPASS_STATE", Subjects: []string{"gatepass.token.*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ijs.Publish(ctx, "gatepass.token.t1", []byte("state")); err != nil {
		t.Fatal(err)
	}

	violations := make(chan error, 4)
	validator, err := nats.Connect(s.ClientURL(), nats.UserInfo("gatepass-validator", "v-secret"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer validator.Close()
	vjs, _ := jetstream.New(validator)
	cons, err := vjs.OrderedConsumer(ctx, "GATEPASS_STATE", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("validator cannot read the stream: %v", err)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil || string(m.Data()) != "state" {
		t.Fatalf("validator read %v, %v", m, err)
	}
	if err := validator.Publish("gatepass.validator.report", []byte("r")); err != nil {
		t.Fatal(err)
	}
	if err := validator.Publish("gatepass.token.t1", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("publish on a token subject: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a validator published on a token subject unnoticed")
	}
	stream, err := vjs.Stream(ctx, "GATEPASS_STATE")
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if err := stream.Purge(pctx); err == nil {
		t.Fatal("a validator purged the stream")
	} else if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(strings.ToLower(err.Error()), "permission") {
		t.Logf("purge refused: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream after the attempts: %v, %v", info, err)
	}
}
