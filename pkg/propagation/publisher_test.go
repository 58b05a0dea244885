package propagation

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// memOutbox is an Outbox in memory: entries per lane, nothing else.
type memOutbox struct {
	lanes    [3][]Entry
	index    uint64
	instance time.Time
	requeued int
}

func (o *memOutbox) add(lane Lane, subject string) string {
	o.index++
	id := fmt.Sprintf("ev_%d", o.index)
	o.lanes[lane] = append(o.lanes[lane], Entry{Key: binary.BigEndian.AppendUint64(nil, o.index), EventID: id, Subject: subject, LogIndex: o.index})
	return id
}

func (o *memOutbox) Snapshot(limit int) (Snapshot, error) {
	take := func(l Lane) []Entry { return append([]Entry(nil), o.lanes[l][:min(limit, len(o.lanes[l]))]...) }
	return Snapshot{
		Change: take(LaneChange), Bulk: take(LaneBulk), Audit: take(LaneAudit),
		Complete:   len(o.lanes[LaneChange]) <= limit && len(o.lanes[LaneBulk]) <= limit,
		Checkpoint: &gatepassv1.Checkpoint{LogIndex: o.index},
	}, nil
}

func (o *memOutbox) Delete(lane Lane, keys [][]byte) error {
	kept := o.lanes[lane][:0]
	for _, e := range o.lanes[lane] {
		if !containsKey(keys, e.Key) {
			kept = append(kept, e)
		}
	}
	o.lanes[lane] = kept
	return nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

func (o *memOutbox) RequeueAll() (int, error) {
	o.requeued++
	o.add(LaneBulk, "gatepass.token.tok_all")
	return 1, nil
}
func (o *memOutbox) Adopt(instance time.Time) (int, error) {
	if instance.Equal(o.instance) {
		return 0, nil
	}
	o.instance = instance
	return o.RequeueAll()
}
func (o *memOutbox) Repair(string, string, uint64) (bool, error) { return false, nil }

// memStream records every publish call.
type memStream struct {
	clk     *fakeclock.Clock
	exists  bool
	created time.Time
	last    uint64
	calls   [][]string // subjects of each Publish call
	// recreate makes the next Publish land in a new instance.
	recreate bool
}

func (s *memStream) Ensure(context.Context) (StreamInfo, error) {
	if !s.exists {
		s.exists, s.created, s.last = true, s.clk.Now(), 0
	}
	return s.Info(context.Background())
}

func (s *memStream) Info(context.Context) (StreamInfo, error) {
	if !s.exists {
		return StreamInfo{}, ErrNoStream
	}
	return StreamInfo{Created: s.created, LastSeq: s.last}, nil
}

func (s *memStream) Publish(_ context.Context, es []Entry) ([]uint64, error) {
	if s.recreate {
		s.created, s.last, s.recreate = s.created.Add(time.Second), 0, false
	}
	var subjects []string
	seqs := make([]uint64, len(es))
	for i, e := range es {
		s.last++
		seqs[i] = s.last
		subjects = append(subjects, e.Subject)
	}
	s.calls = append(s.calls, subjects)
	s.clk.Add(time.Millisecond) // acknowledgements take time
	return seqs, nil
}

type memBus struct{ msgs atomic.Int64 }

func (b *memBus) Publish(string, []byte) error { b.msgs.Add(1); return nil }

func newTestPublisher(t *testing.T) (*Publisher, *memOutbox, *memStream, *memBus, *fakeclock.Clock) {
	t.Helper()
	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	clk := fakeclock.New(t0)
	o, s, b := &memOutbox{}, &memStream{clk: clk}, &memBus{}
	p, err := NewPublisher(o, s, b, signer, PublisherOptions{Batch: 4, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return p, o, s, b, clk
}

func drain(t *testing.T, p *Publisher) {
	t.Helper()
	for range 100 {
		more, err := p.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
	t.Fatal("outbox never drained")
}

// TestLifecycleChangesGoFirst: a revoke queued behind audit events and a
// bulk republish is published in the first batch, several entries at once,
// and audit events wait until no state is pending.
func TestLifecycleChangesGoFirst(t *testing.T) {
	t.Parallel()
	p, o, s, _, _ := newTestPublisher(t)
	for range 6 {
		o.add(LaneAudit, "gatepass.audit.ws")
		o.add(LaneBulk, "gatepass.token.bulk")
	}
	revoke := o.add(LaneChange, "gatepass.token.revoked")
	drain(t, p)
	first := s.calls[0]
	if first[0] != "gatepass.token.revoked" {
		t.Fatalf("first publish = %v, want the revoke first", first)
	}
	seenAudit := false
	for _, call := range s.calls {
		for _, subj := range call {
			switch {
			case subj == "gatepass.audit.ws":
				seenAudit = true
			case seenAudit:
				t.Fatalf("a state event (%s) waited behind audit events: %v", subj, s.calls)
			}
		}
	}
	if _, ok := p.Publication(revoke); !ok {
		t.Fatal("the revoke was never covered by a checkpoint")
	}
}

// TestPublicationIsDatedAtTheAck: a receipt's clock starts when JetStream
// acknowledged the change, not when it was committed.
func TestPublicationIsDatedAtTheAck(t *testing.T) {
	t.Parallel()
	p, o, _, _, clk := newTestPublisher(t)
	id := o.add(LaneChange, "gatepass.token.t")
	committed := clk.Now()
	clk.Add(3 * time.Second) // a backlog
	drain(t, p)
	pub, ok := p.Publication(id)
	if !ok || !pub.Acked.After(committed.Add(3*time.Second)) || pub.Seq == 0 {
		t.Fatalf("publication %+v, committed %v", pub, committed)
	}
}

// TestRecreatedDuringPublishCoversNothing: when the stream is recreated
// while a batch is in flight, which instance holds it is unknown: no
// receipt may count positions for it, and every state is republished.
func TestRecreatedDuringPublishCoversNothing(t *testing.T) {
	t.Parallel()
	p, o, s, _, _ := newTestPublisher(t)
	drain(t, p)     // adopt the stream
	var steps []int // what the metrics saw published
	p.opts.OnStep = func(events int, _ time.Duration) { steps = append(steps, events) }
	id := o.add(LaneChange, "gatepass.token.t")
	s.recreate = true
	if _, err := p.Step(context.Background()); err == nil {
		// The batch landed in an instance the publisher did not follow.
		t.Fatal("a publish into a recreated stream went unnoticed")
	}
	if _, ok := p.Publication(id); ok {
		t.Fatal("a change published into an unknown instance was covered")
	}
	if len(steps) != 0 {
		t.Fatalf("a batch published into an unknown instance was counted: %v", steps)
	}
	before := o.requeued
	drain(t, p)
	if o.requeued != before+1 {
		t.Fatalf("requeued %d times after the recreation, want once more", o.requeued-before)
	}
	if len(steps) == 0 || steps[0] < 2 { // the change and its checkpoint at least
		t.Fatalf("batches counted after the recreation: %v", steps)
	}
}

// TestHeartbeatNoticesAMissingStream: an idle issuer recreates a lost
// stream and republishes every state within one heartbeat.
func TestHeartbeatNoticesAMissingStream(t *testing.T) {
	t.Parallel()
	p, o, s, b, _ := newTestPublisher(t)
	drain(t, p)
	s.exists = false
	before := o.requeued
	if err := p.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.exists || o.requeued != before+1 {
		t.Fatalf("after one heartbeat: stream exists %v, requeued %d", s.exists, o.requeued-before)
	}
	if err := p.Heartbeat(context.Background()); err != nil || b.msgs.Load() != 1 {
		t.Fatalf("heartbeat on the recreated stream: %v, %d sent", err, b.msgs.Load())
	}
}

func TestRepairAllRunsOncePerCheckpoint(t *testing.T) {
	t.Parallel()
	p, o, _, _, _ := newTestPublisher(t)
	for _, idx := range []uint64{5, 5, 3, 6} {
		if _, err := p.RepairAll(idx); err != nil {
			t.Fatal(err)
		}
	}
	if o.requeued != 2 {
		t.Fatalf("requeued %d times, want 2 (checkpoints 5 and 6)", o.requeued)
	}
}

// TestRevokeGoesBeforeItsCheckpoint: a batch of revokes alone is
// published without the checkpoint, so its publication (and receipt)
// does not wait for one more sync; the checkpoint follows in the next
// step. A batch with anything else keeps the checkpoint at its end.
func TestRevokeGoesBeforeItsCheckpoint(t *testing.T) {
	t.Parallel()
	p, o, s, _, _ := newTestPublisher(t)
	drain(t, p) // adopt the stream
	s.calls = nil
	revoke := o.add(LaneChange, "gatepass.token.revoked")
	data, err := p.signer.Seal(&gatepassv1.Event{Id: revoke, Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token: &gatepassv1.Token{Id: "revoked", Status: gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED}}}})
	if err != nil {
		t.Fatal(err)
	}
	o.lanes[LaneChange][0].Data = data
	if _, err := p.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(s.calls) != "[[gatepass.token.revoked]]" {
		t.Fatalf("first step published %v, want the revoke alone", s.calls)
	}
	pub, ok := p.Publication(revoke)
	if !ok || pub.Seq != s.last {
		t.Fatalf("revoke published at %+v, want its own sequence %d", pub, s.last)
	}
	drain(t, p)
	if len(s.calls) != 2 || s.calls[1][0] != event.CheckpointSubject {
		t.Fatalf("after the revoke: %v, want a checkpoint", s.calls)
	}
	// A create is covered by the checkpoint in its own batch.
	s.calls = nil
	create := o.add(LaneChange, "gatepass.token.created")
	drain(t, p)
	if len(s.calls) != 1 || len(s.calls[0]) != 2 || s.calls[0][1] != event.CheckpointSubject {
		t.Fatalf("create published as %v, want it and a checkpoint together", s.calls)
	}
	if pub, ok := p.Publication(create); !ok || pub.Seq != s.last {
		t.Fatalf("create covered at %+v, want the checkpoint at %d", pub, s.last)
	}
}
