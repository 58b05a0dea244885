package sim

import (
	"context"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
)

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
		Bounds: s.store.bounds,
		OnBound: func(key string, bound time.Duration) {
			if s.store.bounds == nil {
				s.store.bounds = map[string]time.Duration{}
			}
			s.store.bounds[key] = bound
		},
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
	if propagation.Recorded(n.tracker.Report(signer, &r, n.clock())) && r.GetDistrustedCheckpoint() > 0 {
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
