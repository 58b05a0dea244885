package publish

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/logtest"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/nats-io/nats.go/jetstream"
)

func entries(from, n int) []propagation.Entry {
	out := make([]propagation.Entry, n)
	for i := range out {
		id := fmt.Sprintf("tok_%022d", from+i)
		out[i] = propagation.Entry{EventID: "ev_" + id, Subject: event.TokenSubject(id), Data: []byte("state of " + id)}
	}
	return out
}

// checkStored fails unless the stream holds each entry at its sequence.
func checkStored(ctx context.Context, t *testing.T, s jetstream.Stream, es []propagation.Entry, seqs []uint64) {
	t.Helper()
	if len(seqs) != len(es) {
		t.Fatalf("%d sequences for %d entries", len(seqs), len(es))
	}
	for i, e := range es {
		m, err := s.GetMsg(ctx, seqs[i])
		if err != nil {
			t.Fatalf("entry %d at %d: %v", i, seqs[i], err)
		}
		if m.Subject != e.Subject || string(m.Data) != string(e.Data) {
			t.Fatalf("entry %d: sequence %d holds %s %q", i, seqs[i], m.Subject, m.Data)
		}
	}
}

func testStream(t *testing.T, cfg jetstream.StreamConfig) (context.Context, *Stream, jetstream.Stream) {
	t.Helper()
	_, _, js := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, NewStream(js, 1), st
}

// TestAtomicBatchSequences: a large batch is one atomic batch, and the
// sequences derived from its commit are where each entry is stored.
func TestAtomicBatchSequences(t *testing.T) {
	t.Parallel()
	ctx, s, st := testStream(t, StreamConfig(1))
	small := entries(0, 3) // below atomicFrom: one by one
	seqs, err := s.Publish(ctx, small)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(ctx, t, st, small, seqs)
	big := entries(100, maxAtomic+50) // two atomic batches
	seqs, err = s.Publish(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(ctx, t, st, big, seqs)
	if seqs[0] != 4 || seqs[len(seqs)-1] != uint64(3+len(big)) {
		t.Errorf("sequences %d…%d, want 4…%d", seqs[0], seqs[len(seqs)-1], 3+len(big))
	}
	if n := s.AtomicFallbacks(); n != 0 {
		t.Errorf("%d atomic batches fell back", n)
	}
}

// TestAtomicBatchWithAStoredEntry: an atomic batch holding an entry the
// stream already has (republished after a crash) is refused as a whole;
// published again one by one, the stored entry keeps its sequence and is
// not stored twice.
func TestAtomicBatchWithAStoredEntry(t *testing.T) {
	t.Parallel()
	ctx, s, st := testStream(t, StreamConfig(1))
	first := entries(0, 30)
	before, err := s.Publish(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	again := append(first[20:], entries(30, 40)...)
	seqs, err := s.Publish(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.AtomicFallbacks(); n != 1 {
		t.Errorf("%d fallbacks, want 1", n)
	}
	checkStored(ctx, t, st, again, seqs)
	for i := range 10 {
		if seqs[i] != before[20+i] {
			t.Errorf("republished entry %d at %d, first stored at %d", i, seqs[i], before[20+i])
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 70 || info.State.LastSeq != 70 {
		t.Errorf("stream holds %d messages, last %d; want 70, 70", info.State.Msgs, info.State.LastSeq)
	}
}

// TestAtomicBatchRefusedByTheStream: a stream that does not allow atomic
// batches (configured before, or by an operator) still gets every entry.
func TestAtomicBatchRefusedByTheStream(t *testing.T) {
	t.Parallel()
	cfg := StreamConfig(1)
	cfg.AllowAtomicPublish = false
	ctx, s, st := testStream(t, cfg)
	var logs logtest.Buffer
	s.refused = propagation.NewRepeatLog(slog.New(slog.NewTextHandler(&logs, nil)), time.Hour)
	es := entries(0, 40)
	seqs, err := s.Publish(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(ctx, t, st, es, seqs)
	if n := s.AtomicFallbacks(); n != 1 {
		t.Errorf("%d fallbacks, want 1", n)
	}
	if !strings.Contains(logs.String(), "atomic batch refused") {
		t.Errorf("the fallback was not logged: %q", logs.String())
	}
}

func TestBatchSeqs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ack  string
		want []uint64
	}{
		{`{"stream":"S","seq":12,"batch":"b","count":3}`, []uint64{10, 11, 12}},
		{`{"stream":"S","seq":12}`, nil},                                   // a server without atomic batches
		{`{"stream":"S","seq":12,"batch":"other","count":3}`, nil},         // another batch
		{`{"stream":"S","seq":12,"batch":"b","count":2}`, nil},             // a different size
		{`{"stream":"S","seq":2,"batch":"b","count":3}`, nil},              // impossible sequence
		{`{"error":{"code":400,"err_code":10201,"description":"x"}}`, nil}, // refused
		{`not json`, nil},
	} {
		got, err := batchSeqs([]byte(tc.ack), "b", 3)
		if (err == nil) != (tc.want != nil) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.ack, got, err, tc.want)
		}
	}
}

// BenchmarkPublishStep: what one publish step costs on a single server
// with every message synced (as the embedded NATS runs), entry by entry
// (a sync per message) and as one atomic batch (JetStream stages it in a
// file store of its own: a few syncs whatever its size). Where they cross
// is where atomicFrom belongs.
func BenchmarkPublishStep(b *testing.B) {
	for _, n := range []int{1, 8, 24, 64} {
		for _, mode := range []string{"each", "atomic"} {
			b.Run(fmt.Sprintf("events=%d/%s", n, mode), func(b *testing.B) {
				_, _, js := natstest.Start(b)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(1)); err != nil {
					b.Fatal(err)
				}
				s := NewStream(js, 1)
				for i := 0; b.Loop(); i++ {
					es := entries(i*n, n)
					var err error
					if mode == "atomic" {
						_, err = s.publishAtomic(ctx, es)
					} else {
						_, err = s.publishEach(ctx, es)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
