package sim

import (
	"errors"
	"time"

	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/services/validator/internal/follow"
)

// errPartitioned is what a node cut off from NATS gets for any call.
var errPartitioned = errors.New("sim: no connection to NATS")

// stream is the simulated token stream: file storage that survives
// everything but a loss, one message kept per subject, deduplication by
// message id within one instance.
type stream struct {
	w       *world
	exists  bool
	created time.Time
	last    uint64
	msgs    map[uint64]follow.Msg
	subject map[string]uint64
	dedupe  map[string]uint64
	// history keeps every message ever appended, for the replay attack.
	history []follow.Msg
	// observe is called for every appended message (the issuer's guard).
	observe func(follow.Msg)
}

func newStream(w *world) *stream { return &stream{w: w} }

func (s *stream) create() propagation.StreamInfo {
	if !s.exists {
		s.exists = true
		// Creation times are distinct, as JetStream's are.
		s.created = s.w.now.Add(time.Duration(len(s.history)+1) * time.Nanosecond)
		s.last = 0
		s.msgs = map[uint64]follow.Msg{}
		s.subject = map[string]uint64{}
		s.dedupe = map[string]uint64{}
	}
	return s.info()
}

// lose deletes the stream and its data.
func (s *stream) lose() {
	s.exists = false
	s.msgs, s.subject, s.dedupe = nil, nil, nil
}

func (s *stream) info() propagation.StreamInfo {
	first := s.last + 1
	for seq := range s.msgs {
		first = min(first, seq)
	}
	return propagation.StreamInfo{Created: s.created, FirstSeq: first, LastSeq: s.last, Msgs: uint64(len(s.msgs))}
}

// append adds a message (deduplicated by id when id is set).
func (s *stream) append(subject, id string, data []byte) uint64 {
	if seq, ok := s.dedupe[id]; ok && id != "" {
		return seq
	}
	s.last++
	if old, ok := s.subject[subject]; ok {
		delete(s.msgs, old)
	}
	m := follow.Msg{Seq: s.last, Subject: subject, Data: data}
	s.msgs[s.last] = m
	s.subject[subject] = s.last
	if id != "" {
		s.dedupe[id] = s.last
	}
	s.history = append(s.history, m)
	if s.observe != nil {
		s.observe(m)
	}
	return s.last
}

// fetch returns up to n messages from seq on, in order.
func (s *stream) fetch(from uint64, n int) []follow.Msg {
	var out []follow.Msg
	for seq := from; seq <= s.last && len(out) < n; seq++ {
		if m, ok := s.msgs[seq]; ok {
			out = append(out, m)
		}
	}
	return out
}
