package publish

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRepublishAfterCrashIsDeduplicated: the publisher crashed after
// JetStream acknowledged an entry but before deleting it; publishing it
// again must not add a second message.
func TestRepublishAfterCrashIsDeduplicated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, nc, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(ctx, StreamConfig(1))
	if err != nil {
		t.Fatal(err)
	}

	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	st, err := store.Open(filepath.Join(dir, "issuer.db"), signer, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The issuer published to this stream before.
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Adopt(info.Created); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"tok_0000000000000000000001", "tok_0000000000000000000002"} {
		err := st.Update(func(tx *store.Tx) error {
			id, err := tx.PutToken(&gatepassv1.TokenState{Token: &gatepassv1.Token{Id: name}, SecretSha256: make([]byte, 32)})
			ids = append(ids, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The "crashed" publish of the first entry.
	snap, _ := st.Snapshot(1)
	out := snap.Change
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: out[0].Subject, Data: out[0].Data}, jetstream.WithMsgID(out[0].EventID)); err != nil {
		t.Fatal(err)
	}

	p, err := New(st, nc, js, signer, Options{Replicas: 1, Heartbeat: time.Hour, Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(rctx) })
	defer func() { stop(); wg.Wait() }()

	pub, err := p.WaitPublished(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	// Two token events (the first deduplicated), then the checkpoint that
	// covers them.
	if pub.Seq != 3 {
		t.Fatalf("covering checkpoint at sequence %d, want 3 (the first event was deduplicated)", pub.Seq)
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 || info.State.LastSeq != 3 {
		t.Fatalf("stream holds %d messages up to %d, want 3 up to 3", info.State.Msgs, info.State.LastSeq)
	}
	// Waiters are woken before the published entries are deleted.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left, _ := st.Snapshot(10)
		if len(left.Change) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox entries left after publishing", len(left.Change))
		}
	}
}

// TestStreamDeniesPurgeAndDelete: nobody can empty the token stream or
// remove a revocation from it through the JetStream API.
func TestStreamDeniesPurgeAndDelete(t *testing.T) {
	t.Parallel()
	_, _, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := NewStream(js, 1).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, event.TokenSubject("tok_1"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, event.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx); err == nil {
		t.Fatal("the token stream was purged")
	}
	if err := stream.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("a message was deleted from the token stream")
	}
}
