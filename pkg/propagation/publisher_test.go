package propagation

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
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

// take copies up to limit entries of a lane, oldest first.
func (o *memOutbox) take(l Lane, limit int) []Entry {
	return append([]Entry(nil), o.lanes[l][:min(limit, len(o.lanes[l]))]...)
}

func (o *memOutbox) Snapshot(limit int) (Snapshot, error) {
	return Snapshot{
		Change: o.take(LaneChange, limit), Bulk: o.take(LaneBulk, limit),
		Complete:   len(o.lanes[LaneChange]) <= limit && len(o.lanes[LaneBulk]) <= limit,
		Checkpoint: &gatepassv1.Checkpoint{LogIndex: o.index},
	}, nil
}

func (o *memOutbox) AuditSnapshot(limit int) ([]Entry, error) { return o.take(LaneAudit, limit), nil }

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
	mu      sync.Mutex // Run publishes state and audit side by side
	clk     *fakeclock.Clock
	exists  bool
	created time.Time
	last    uint64
	calls   [][]string // subjects of each Publish call
	// recreate makes the next Publish land in a new instance.
	recreate bool
	// onState, if set, runs after each publish of token events.
	onState func()
}

// published counts the events published on subject.
func (s *memStream) published(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, call := range s.calls {
		for _, subj := range call {
			if subj == subject {
				n++
			}
		}
	}
	return n
}

func (s *memStream) Ensure(context.Context) (StreamInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists {
		s.exists, s.created, s.last = true, s.clk.Now(), 0
	}
	return s.info()
}

func (s *memStream) Info(context.Context) (StreamInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info()
}

func (s *memStream) info() (StreamInfo, error) {
	if !s.exists {
		return StreamInfo{}, ErrNoStream
	}
	return StreamInfo{Created: s.created, LastSeq: s.last}, nil
}

func (s *memStream) Publish(_ context.Context, es []Entry) ([]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onState != nil && len(es) > 0 && strings.HasPrefix(es[0].Subject, "gatepass.token.") {
		defer s.onState()
	}
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
	p, err := NewPublisher(o, s, b, signer, PublisherOptions{Batch: 4, Heartbeat: time.Hour, Now: clk.Now, Tick: clk.Tick})
	if err != nil {
		t.Fatal(err)
	}
	return p, o, s, b, clk
}

// run runs p until the test ends.
func run(t *testing.T, p *Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
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
// bulk republish is published in the first batch, several entries at once;
// state steps publish no audit event.
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
	for _, call := range s.calls {
		for _, subj := range call {
			if subj == "gatepass.audit.ws" {
				t.Fatalf("a state step published an audit event: %v", s.calls)
			}
		}
	}
	if _, ok := p.Publication(revoke); !ok {
		t.Fatal("the revoke was never covered by a checkpoint")
	}
}

// TestRunPublishesAuditUnderSteadyChanges: with a change committed while
// every batch of state is being published, the state lanes are never
// empty; Run still publishes the audit lane (the first version waited for
// the state lanes to empty, and here never published an audit event).
func TestRunPublishesAuditUnderSteadyChanges(t *testing.T) {
	t.Parallel()
	p, o, s, _, _ := newTestPublisher(t)
	for range 6 {
		o.add(LaneAudit, "gatepass.audit.ws")
	}
	o.add(LaneChange, "gatepass.token.t")
	// Runs in the state loop's goroutine (Step's publish), the only one
	// touching the change lane.
	s.onState = func() { o.add(LaneChange, "gatepass.token.t") }
	run(t, p)
	waitFor(t, func() bool { return s.published("gatepass.audit.ws") == 6 })
}

// TestAuditFlowsUnderSteadyChanges: audit events go out while state is
// still pending. The first version published them only once no state was
// pending, so under steady changes they piled up in the outbox for as long
// as the load lasted.
func TestAuditFlowsUnderSteadyChanges(t *testing.T) {
	t.Parallel()
	p, o, s, _, _ := newTestPublisher(t)
	drain(t, p) // adopt the stream
	for i := range 3 {
		o.add(LaneAudit, "gatepass.audit.ws")
		// A change committed while the previous one was being published:
		// the state lanes are never empty at the end of a step.
		o.add(LaneChange, fmt.Sprintf("gatepass.token.t%d", i))
		if _, err := p.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		o.add(LaneChange, fmt.Sprintf("gatepass.token.u%d", i))
		if more, err := p.StepAudit(context.Background()); err != nil || more {
			t.Fatalf("audit step %d (one event, less than a batch): more %v, %v", i, more, err)
		}
	}
	if n := len(o.lanes[LaneAudit]); n != 0 {
		t.Fatalf("%d audit events left behind steady changes", n)
	}
	audits := 0
	for _, call := range s.calls {
		for _, subj := range call {
			if subj == "gatepass.audit.ws" {
				audits++
			}
		}
	}
	if audits != 3 {
		t.Fatalf("%d audit events published, want 3: %v", audits, s.calls)
	}
	if more, err := p.StepAudit(context.Background()); err != nil || more {
		t.Fatalf("empty audit lane: %v, %v", more, err)
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
// does not wait for one more sync; the checkpoint follows checkpointLag
// later, one for every revoke in between, or with the first revoke
// published once it is due. A batch with anything else keeps the
// checkpoint at its end.
func TestRevokeGoesBeforeItsCheckpoint(t *testing.T) {
	t.Parallel()
	p, o, s, _, clk := newTestPublisher(t)
	drain(t, p) // adopt the stream
	s.calls = nil
	revoke := addRevoke(t, p, o)
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
	addRevoke(t, p, o)
	drain(t, p)
	if fmt.Sprint(s.calls) != "[[gatepass.token.revoked] [gatepass.token.revoked]]" {
		t.Fatalf("within the lag: %v, want two revokes and no checkpoint yet", s.calls)
	}
	clk.Add(checkpointLag)
	drain(t, p)
	if len(s.calls) != 3 || fmt.Sprint(s.calls[2]) != "["+event.CheckpointSubject+"]" {
		t.Fatalf("after the lag: %v, want one checkpoint", s.calls)
	}
	// Under a steady run of revokes the checkpoint rides with the first
	// one published after it is due.
	s.calls = nil
	addRevoke(t, p, o)
	drain(t, p)
	clk.Add(checkpointLag)
	addRevoke(t, p, o)
	drain(t, p)
	if want := "[[gatepass.token.revoked] [gatepass.token.revoked " + event.CheckpointSubject + "]]"; fmt.Sprint(s.calls) != want {
		t.Fatalf("revokes past the lag: %v, want %v", s.calls, want)
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

// addRevoke queues a signed revoke, as the issuer's outbox holds it.
func addRevoke(t *testing.T, p *Publisher, o *memOutbox) string {
	t.Helper()
	id := o.add(LaneChange, "gatepass.token.revoked")
	data, err := p.signer.Seal(&gatepassv1.Event{Id: id, Body: &gatepassv1.Event_Token{Token: &gatepassv1.TokenState{
		Token: &gatepassv1.Token{Id: "revoked", Status: gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED}}}})
	if err != nil {
		t.Fatal(err)
	}
	lane := o.lanes[LaneChange]
	lane[len(lane)-1].Data = data
	return id
}

// TestRunSendsTheTrailingCheckpoint: Run publishes the checkpoint a revoke
// left out once checkpointLag has passed on its clock, with nothing else
// to wake it.
func TestRunSendsTheTrailingCheckpoint(t *testing.T) {
	t.Parallel()
	p, o, s, _, clk := newTestPublisher(t)
	drain(t, p) // adopt the stream, and checkpoint it
	addRevoke(t, p, o)
	run(t, p)
	waitFor(t, func() bool { return s.published("gatepass.token.revoked") == 1 })
	before := s.published(event.CheckpointSubject)
	waitFor(t, func() bool {
		clk.Add(time.Millisecond)
		return s.published(event.CheckpointSubject) > before
	})
}
