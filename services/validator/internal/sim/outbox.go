package sim

import (
	"bytes"
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
	// bounds are the validators' answer bounds the tracker keeps.
	bounds map[string]time.Duration
}

func (s *store) enqueue(lane propagation.Lane, st *gatepassv1.TokenState) string {
	s.logIndex++
	ev := &gatepassv1.Event{
		Id: fmt.Sprintf("ev_%d", s.logIndex), Time: timestamppb.New(s.now()), LogIndex: s.logIndex,
		Body: &gatepassv1.Event_Token{Token: proto.CloneOf(st)},
	}
	// Sealed as the issuer's store seals a commit's events: as a batch.
	payload, err := proto.Marshal(ev)
	if err != nil {
		panic(err)
	}
	sealed, err := s.signer.SealBatch([][]byte{payload})
	if err != nil {
		panic(err)
	}
	data := sealed[0]
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

// take copies up to limit entries of a lane, oldest first.
func (s *store) take(l propagation.Lane, limit int) []propagation.Entry {
	return append([]propagation.Entry(nil), s.lanes[l][:min(limit, len(s.lanes[l]))]...)
}

func (s *store) Snapshot(limit int) (propagation.Snapshot, error) {
	d := s.digest
	snap := propagation.Snapshot{
		Change:     s.take(propagation.LaneChange, limit),
		Complete:   len(s.lanes[propagation.LaneChange]) <= limit && len(s.lanes[propagation.LaneBulk]) <= limit,
		Checkpoint: &gatepassv1.Checkpoint{LogIndex: s.logIndex, Tokens: uint64(len(s.tokens)), Digest: d[:]},
	}
	for _, e := range s.take(propagation.LaneBulk, limit) {
		if s.superseded(e) {
			snap.Stale = append(snap.Stale, e.Key)
		} else {
			snap.Bulk = append(snap.Bulk, e)
		}
	}
	return snap, nil
}

// AuditSnapshot implements propagation.Outbox. The simulation makes no
// audit events (no receipt rests on them), so the lane stays empty.
func (s *store) AuditSnapshot(limit int) ([]propagation.Entry, error) {
	return s.take(propagation.LaneAudit, limit), nil
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
