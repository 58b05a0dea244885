package sim

import (
	"strings"
	"time"
)

// fault injects one fault.
func (s *Sim) fault() {
	w := s.w
	s.faultCount++
	heal := w.between(200*time.Millisecond, 4*s.cfg.Staleness)
	switch k := w.rng.IntN(9); k {
	case 8: // the validator's consumer stalls while core NATS still flows
		v := s.validators[w.rng.IntN(len(s.validators))]
		v.stalled = true
		w.logf("stall %s's consumer for %v", v.name, heal)
		w.after(heal, func() { v.stalled = false })
	case 0, 1: // partition a validator from NATS
		v := s.validators[w.rng.IntN(len(s.validators))]
		v.partitioned = true
		w.logf("partition %s for %v", v.name, heal)
		w.after(heal, func() { v.partitioned = false })
	case 2: // crash a validator
		v := s.validators[w.rng.IntN(len(s.validators))]
		if !v.up {
			return
		}
		fate := []string{"kept", "kept", "lost", "corrupt"}[w.rng.IntN(4)]
		w.logf("crash %s (cache %s) for %v", v.name, fate, heal)
		v.crash(fate)
		w.after(heal, v.start)
	case 3: // partition the issuer
		s.issuer.partitioned = true
		w.logf("partition issuer for %v", heal)
		w.after(heal, func() { s.issuer.partitioned = false })
	case 4: // crash the issuer
		if !s.issuer.up {
			return
		}
		w.logf("crash issuer for %v", heal)
		s.issuer.crash()
		w.after(heal, s.issuer.start)
	case 5: // lose the stream
		s.loseStream()
	case 6: // replay captured validator reports
		if len(s.captured) == 0 {
			return
		}
		for range 5 {
			data := s.captured[w.rng.IntN(len(s.captured))]
			s.send(nil, &s.issuer.netNode, func() { s.issuer.report(data) })
		}
		w.logf("replayed 5 validator reports")
	case 7: // re-append an old signed token event
		if !s.stream.exists || len(s.stream.history) == 0 {
			return
		}
		m := s.stream.history[w.rng.IntN(len(s.stream.history))]
		if !strings.HasPrefix(m.Subject, "gatepass.token.") {
			return
		}
		w.logf("replayed event onto %s", m.Subject)
		s.stream.append(m.Subject, "", m.Data)
	}
}

func (s *Sim) loseStream() {
	if s.stream.exists {
		s.w.logf("stream lost")
		s.stream.lose()
	}
}

// heal ends every fault: partitions close and crashed nodes restart.
func (s *Sim) heal() {
	s.faults = false
	s.issuer.partitioned = false
	if !s.issuer.up {
		s.issuer.start()
	}
	for _, v := range s.validators {
		v.partitioned, v.stalled = false, false
		if !v.up {
			v.start()
		}
	}
}
