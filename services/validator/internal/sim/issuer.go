package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// store models the issuer's durable database as package store keeps it:
// token states, the outbox in three lanes, the log index, the state digest
// and the stream instance last published to. It survives issuer crashes.
type store struct {
	signer   *event.Signer
	now      func() time.Time
	tokens   map[string]*gatepassv1.TokenState
	lanes    [3][]propagation.Entry
	logIndex uint64
	digest   propagation.Digest
	instance time.Time
}

func (s *store) enqueue(lane propagation.Lane, st *gatepassv1.TokenState) string {
	s.logIndex++
	ev := &gatepassv1.Event{
		Id: fmt.Sprintf("ev_%d", s.logIndex), Time: timestamppb.New(s.now()), LogIndex: s.logIndex,
		Body: &gatepassv1.Event_Token{Token: proto.CloneOf(st)},
	}
	data, err := s.signer.Seal(ev)
	if err != nil {
		panic(err)
	}
	s.lanes[lane] = append(s.lanes[lane], propagation.Entry{
		Key: binary.BigEndian.AppendUint64(nil, s.logIndex), EventID: ev.GetId(), Subject: event.Subject(ev), LogIndex: s.logIndex, Data: data,
	})
	return ev.GetId()
}

// put commits a token's new state and its event, as one transaction.
func (s *store) put(st *gatepassv1.TokenState) string {
	old := s.tokens[st.GetToken().GetId()]
	st.GetToken().Version++
	s.digest.Replace(old, st)
	s.tokens[st.GetToken().GetId()] = st
	return s.enqueue(propagation.LaneChange, st)
}

func (s *store) Snapshot(limit int) (propagation.Snapshot, error) {
	take := func(l propagation.Lane) []propagation.Entry {
		return append([]propagation.Entry(nil), s.lanes[l][:min(limit, len(s.lanes[l]))]...)
	}
	d := s.digest
	snap := propagation.Snapshot{
		Change: take(propagation.LaneChange), Audit: take(propagation.LaneAudit),
		Complete:   len(s.lanes[propagation.LaneChange]) <= limit && len(s.lanes[propagation.LaneBulk]) <= limit,
		Checkpoint: &gatepassv1.Checkpoint{LogIndex: s.logIndex, Tokens: uint64(len(s.tokens)), Digest: d[:]},
	}
	for _, e := range take(propagation.LaneBulk) {
		if s.superseded(e) {
			snap.Stale = append(snap.Stale, e.Key)
		} else {
			snap.Bulk = append(snap.Bulk, e)
		}
	}
	return snap, nil
}

func (s *store) Delete(lane propagation.Lane, keys [][]byte) error {
	kept := s.lanes[lane][:0]
	for _, e := range s.lanes[lane] {
		gone := false
		for _, k := range keys {
			if bytes.Equal(k, e.Key) {
				gone = true
				break
			}
		}
		if !gone {
			kept = append(kept, e)
		}
	}
	s.lanes[lane] = kept
	return nil
}

// superseded reports whether a republished state is no longer current.
func (s *store) superseded(e propagation.Entry) bool {
	_, id, ok := event.ParseSubject(e.Subject)
	if !ok {
		return false
	}
	var env gatepassv1.Envelope
	var ev gatepassv1.Event
	if proto.Unmarshal(e.Data, &env) != nil || proto.Unmarshal(env.GetPayload(), &ev) != nil {
		return true
	}
	cur := s.tokens[id]
	return cur != nil && cur.GetToken().GetVersion() != ev.GetToken().GetToken().GetVersion()
}

func (s *store) Adopt(instance time.Time) (int, error) {
	if instance.Equal(s.instance) {
		return 0, nil
	}
	s.instance = instance
	return s.RequeueAll()
}

func (s *store) RequeueAll() (int, error) {
	for _, id := range sortedIDs(s.tokens) {
		s.enqueue(propagation.LaneBulk, s.tokens[id])
	}
	return len(s.tokens), nil
}

func (s *store) Repair(kind, id string, seen uint64) (bool, error) {
	cur := s.tokens[id]
	if kind != "token" || cur == nil || cur.GetToken().GetVersion() == seen {
		return false, nil
	}
	s.enqueue(propagation.LaneChange, cur)
	return true, nil
}

// issuerStream is the stream as the issuer reaches it through NATS.
type issuerStream struct{ sim *Sim }

func (is issuerStream) Ensure(context.Context) (propagation.StreamInfo, error) {
	if is.sim.issuer.partitioned {
		return propagation.StreamInfo{}, errPartitioned
	}
	return is.sim.stream.create(), nil
}

func (is issuerStream) Info(context.Context) (propagation.StreamInfo, error) {
	switch {
	case is.sim.issuer.partitioned:
		return propagation.StreamInfo{}, errPartitioned
	case !is.sim.stream.exists:
		return propagation.StreamInfo{}, propagation.ErrNoStream
	}
	return is.sim.stream.info(), nil
}

func (is issuerStream) Publish(_ context.Context, entries []propagation.Entry) ([]uint64, error) {
	if is.sim.issuer.partitioned {
		return nil, errPartitioned
	}
	seqs := make([]uint64, len(entries))
	for i, e := range entries {
		if !is.sim.stream.exists {
			return nil, propagation.ErrNoStream
		}
		if e.Subject == event.CheckpointSubject || event.StreamOf(e.Subject) == event.StreamName {
			seqs[i] = is.sim.stream.append(e.Subject, e.EventID, e.Data)
		}
		// A publish may stall mid-batch: the stream can be lost meanwhile.
		if is.sim.faults && is.sim.w.chance(0.002) {
			is.sim.loseStream()
		}
	}
	return seqs, nil
}

// issuerBus sends the issuer's heartbeats to every validator.
type issuerBus struct{ sim *Sim }

func (ib issuerBus) Publish(subject string, data []byte) error {
	if ib.sim.issuer.partitioned {
		return errPartitioned
	}
	for _, v := range ib.sim.validators {
		ib.sim.send(&ib.sim.issuer.netNode, v.node(), func() { v.heartbeat(data) })
	}
	return nil
}

// pending is a change waiting for its receipt.
type pending struct {
	tokenID  string
	version  uint64
	status   gatepassv1.TokenStatus
	eventID  string
	deadline time.Time // issuer clock
}

// issuerNode is the issuer process.
type issuerNode struct {
	netNode
	sim     *Sim
	up      bool
	pub     *propagation.Publisher
	tracker receipts
	waiting []pending
}

// receipts is what the simulation needs of a receipt tracker, so the
// checker can be shown a broken one.
type receipts interface {
	Report(signer string, r *gatepassv1.ValidatorReport, now time.Time) error
	Receipt(c propagation.Change, now time.Time) (*gatepassv1.PropagationReceipt, time.Duration)
}

func (n *issuerNode) start() {
	if n.up {
		return // healed already
	}
	s := n.sim
	n.up = true
	pub, err := propagation.NewPublisher(s.store, issuerStream{s}, issuerBus{s}, s.issuerKey, propagation.PublisherOptions{
		Batch: 64, Now: n.clock, Logger: s.w.logger("issuer"),
	})
	if err != nil {
		panic(err)
	}
	n.pub = pub
	n.tracker = s.cfg.NewTracker(propagation.TrackerOptions{
		Keys: s.validatorKeys, Liveness: s.cfg.Liveness, MaxBound: s.cfg.Staleness, MaxSkew: s.cfg.MaxSkew,
	}, n.clock())
	n.waiting = nil
	gen := s.issuerGen
	alive := func() bool { return n.up && s.issuerGen == gen }
	s.w.every(5*time.Millisecond, func() bool {
		if !alive() {
			return false
		}
		for range 4 {
			if more, err := n.pub.Step(context.Background()); err != nil || !more {
				break
			}
		}
		n.settle()
		return true
	})
	s.w.every(s.cfg.Heartbeat, func() bool {
		if alive() {
			_ = n.pub.Heartbeat(context.Background())
		}
		return alive()
	})
}

func (n *issuerNode) crash() {
	n.up = false
	n.sim.issuerGen++
	n.pub, n.tracker, n.waiting = nil, nil, nil
}

// report hands a sealed validator report to the tracker, as the issuer's
// subscription does.
func (n *issuerNode) report(data []byte) {
	if !n.up {
		return
	}
	var r gatepassv1.ValidatorReport
	signer, err := n.sim.reportKeys.OpenReport(data, &r)
	if err != nil {
		return
	}
	if n.tracker.Report(signer, &r, n.clock()) == nil && r.GetDistrustedCheckpoint() > 0 {
		_, _ = n.pub.RepairAll(r.GetDistrustedCheckpoint())
	}
}

// guard is the issuer's watch on the stream subjects.
func (n *issuerNode) guard(data []byte, subject string) {
	if n.up && !n.partitioned {
		_, _ = n.pub.Repair(subject, data)
	}
}

// change commits a lifecycle change and waits for its receipt.
func (n *issuerNode) change(st *gatepassv1.TokenState) {
	id := n.sim.store.put(st)
	n.waiting = append(n.waiting, pending{
		tokenID: st.GetToken().GetId(), version: st.GetToken().GetVersion(), status: st.GetToken().GetStatus(),
		eventID: id, deadline: n.clock().Add(n.sim.cfg.PropagationTimeout),
	})
	n.pub.Notify()
}

// settle completes the receipts that can be.
func (n *issuerNode) settle() {
	now := n.clock()
	kept := n.waiting[:0]
	for _, p := range n.waiting {
		if pub, ok := n.pub.Publication(p.eventID); ok {
			if r, _ := n.tracker.Receipt(pub, now); r.GetComplete() {
				n.sim.hist.receipt(p, n.sim.w.now, r)
				continue
			}
		}
		if now.After(p.deadline) {
			n.sim.hist.timeouts++
			continue
		}
		kept = append(kept, p)
	}
	n.waiting = kept
}
