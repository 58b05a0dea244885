package sim

import (
	"time"
)

// netNode is a node's connection to NATS and its clock.
type netNode struct {
	name        string
	partitioned bool
	skew        time.Duration
	clock       func() time.Time
}

func (s *Sim) newNetNode(name string) netNode {
	n := netNode{name: name}
	if s.faults {
		// Every pair of clocks within the skew bound.
		n.skew = s.w.dur(s.cfg.MaxSkew) - s.cfg.MaxSkew/2
	}
	skew := n.skew
	n.clock = func() time.Time { return s.w.now.Add(skew) }
	return n
}

// delay is one message's time in flight.
func (s *Sim) delay() time.Duration {
	if s.faults && s.w.chance(0.02) {
		return s.w.between(s.cfg.Staleness/2, 2*s.cfg.Staleness) // a long stall
	}
	return s.w.between(200*time.Microsecond, 3*time.Millisecond)
}

// send delivers fn from one node to another over core NATS: delayed, and
// with faults lost, duplicated and so reordered; a partition at either end,
// at sending or at delivery, swallows it. from nil is the stream itself.
func (s *Sim) send(from, to *netNode, fn func()) {
	if from != nil && from.partitioned {
		return
	}
	copies := 1
	if s.faults {
		switch {
		case s.w.chance(0.03):
			copies = 0
		case s.w.chance(0.03):
			copies = 2
		}
	}
	for range copies {
		s.w.after(s.delay(), func() {
			if !to.partitioned && (from == nil || !from.partitioned) {
				fn()
			}
		})
	}
}
