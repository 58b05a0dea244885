package natsjs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/nats-io/nats.go/jetstream"
)

// TestInfoIsOneRequest: the stream's state is read with one request (it is
// on the path of every receipt), and it is the state of the stream there.
func TestInfoIsOneRequest(t *testing.T) {
	t.Parallel()
	_, nc, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Info(ctx, js); !errors.Is(err, propagation.ErrNoStream) {
		t.Fatalf("no stream: %v, want ErrNoStream", err)
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: event.StreamName, Subjects: event.StreamSubjects})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, event.TokenSubject("tok_1"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	requests, err := nc.SubscribeSync("$JS.API.STREAM.INFO.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := Info(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	want := st.CachedInfo()
	if !got.Created.Equal(want.Created) || got.LastSeq != 1 || got.Msgs != 1 {
		t.Fatalf("info %+v; stream created %v with one message", got, want.Created)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := requests.Pending(); n != 1 {
		t.Fatalf("%d stream info requests, want 1", n)
	}
}
