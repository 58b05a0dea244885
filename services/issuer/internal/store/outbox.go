package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// OutboxEntry is a sealed event waiting to be published.
type OutboxEntry = propagation.Entry

// laneBucket is the bucket of each outbox lane.
var laneBucket = map[propagation.Lane][]byte{
	propagation.LaneChange: bucketOutbox,
	propagation.LaneBulk:   bucketOutboxBulk,
	propagation.LaneAudit:  bucketOutboxAudit,
}

// enqueue appends ev to a lane of the outbox in the current transaction.
// Every event gets the next log index, whatever its lane. It is marshaled
// now and sealed with the transaction's other events before the commit
// (sealAll).
func (tx *Tx) enqueue(lane propagation.Lane, ev *gatepassv1.Event) (string, error) {
	idx, err := tx.btx.Bucket(bucketOutbox).NextSequence()
	if err != nil {
		return "", err
	}
	ev.Id = newEventID(tx.s.now(), idx)
	ev.Time = timestamppb.New(tx.s.now())
	ev.LogIndex = idx
	payload, err := proto.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("seal event: %w", err)
	}
	tx.unsealed = append(tx.unsealed, unsealed{bucket: laneBucket[lane], idx: idx, subject: event.Subject(ev), id: ev.Id, payload: payload})
	return ev.Id, nil
}

// Snapshot implements propagation.Outbox: up to limit entries of each
// state lane, the republished states a later change superseded, and the
// checkpoint of the state they lead to, all from one read.
func (s *Store) Snapshot(limit int) (propagation.Snapshot, error) {
	var snap propagation.Snapshot
	err := s.View(func(tx *Tx) error {
		var err error
		var fullChange, fullBulk bool
		if snap.Change, fullChange, err = tx.lane(propagation.LaneChange, limit); err != nil {
			return err
		}
		var bulk []OutboxEntry
		if bulk, fullBulk, err = tx.lane(propagation.LaneBulk, limit); err != nil {
			return err
		}
		for _, e := range bulk {
			superseded, err := tx.superseded(e)
			if err != nil {
				return err
			}
			if superseded {
				snap.Stale = append(snap.Stale, e.Key)
			} else {
				snap.Bulk = append(snap.Bulk, e)
			}
		}
		snap.Complete = fullChange && fullBulk
		snap.Checkpoint, err = tx.checkpoint()
		return err
	})
	return snap, err
}

// AuditSnapshot implements propagation.Outbox: up to limit audit events.
func (s *Store) AuditSnapshot(limit int) ([]propagation.Entry, error) {
	var out []propagation.Entry
	err := s.View(func(tx *Tx) error {
		var err error
		out, _, err = tx.lane(propagation.LaneAudit, limit)
		return err
	})
	return out, err
}

// lane returns up to limit entries of a lane, and whether that is all.
func (tx *Tx) lane(l propagation.Lane, limit int) ([]OutboxEntry, bool, error) {
	var out []OutboxEntry
	c := tx.btx.Bucket(laneBucket[l]).Cursor()
	k, v := c.First()
	for ; k != nil && len(out) < limit; k, v = c.Next() {
		if tx.s.forget.has(l, k) {
			continue // published; deleted with the next commit
		}
		e, err := decodeOutbox(k, v)
		if err != nil {
			return nil, false, err
		}
		out = append(out, e)
	}
	return out, k == nil, nil
}

// Delete implements propagation.Outbox. The entries are gone from
// Snapshot at once and from the database with the next commit (see
// forgetting).
func (s *Store) Delete(lane propagation.Lane, keys [][]byte) error {
	if len(keys) > 0 {
		s.forget.add(lane, keys)
	}
	return nil
}

func decodeOutbox(k, v []byte) (OutboxEntry, error) {
	i := bytes.IndexByte(v, 0)
	if i < 0 {
		return OutboxEntry{}, fmt.Errorf("corrupt outbox entry %x", k)
	}
	j := bytes.IndexByte(v[i+1:], 0)
	if j < 0 || len(k) != 8 {
		return OutboxEntry{}, fmt.Errorf("corrupt outbox entry %x", k)
	}
	return OutboxEntry{
		Key:      append([]byte(nil), k...),
		Subject:  string(v[:i]),
		EventID:  string(v[i+1 : i+1+j]),
		LogIndex: binary.BigEndian.Uint64(k),
		Data:     append([]byte(nil), v[i+2+j:]...),
	}, nil
}

// superseded reports whether a republished state is no longer its
// token's current version (a later change was queued since).
func (tx *Tx) superseded(e OutboxEntry) (bool, error) {
	kind, id, ok := event.ParseSubject(e.Subject)
	if !ok || kind != "token" {
		return false, nil
	}
	var env gatepassv1.Envelope
	var ev gatepassv1.Event
	if proto.Unmarshal(e.Data, &env) != nil || proto.Unmarshal(env.GetPayload(), &ev) != nil {
		return true, nil
	}
	return tx.Stale(kind, id, ev.GetToken().GetToken().GetVersion())
}

// Adopt implements propagation.Outbox: the first publish to a stream
// instance other than the one recorded republishes every state.
func (s *Store) Adopt(instance time.Time) (int, error) {
	n := 0
	err := s.Update(func(tx *Tx) error {
		meta := tx.btx.Bucket(bucketMeta)
		v := binary.BigEndian.AppendUint64(nil, uint64(instance.UnixNano()))
		if bytes.Equal(meta.Get(keyStreamInstance), v) {
			return nil
		}
		var err error
		if n, err = tx.requeueAll(); err != nil {
			return err
		}
		return meta.Put(keyStreamInstance, v)
	})
	return n, err
}

// RequeueAll implements propagation.Outbox.
func (s *Store) RequeueAll() (int, error) {
	var n int
	err := s.Update(func(tx *Tx) (err error) {
		n, err = tx.requeueAll()
		return err
	})
	return n, err
}

// Repair implements propagation.Outbox.
func (s *Store) Repair(kind, id string, seenVersion uint64) (bool, error) {
	var stale, requeued bool
	err := s.View(func(tx *Tx) (err error) {
		stale, err = tx.Stale(kind, id, seenVersion)
		return err
	})
	if err == nil && stale {
		err = s.Update(func(tx *Tx) (err error) {
			requeued, err = tx.Requeue(kind, id, seenVersion)
			return err
		})
	}
	return requeued, err
}

// Stale reports whether a stream message of kind and id that carried
// seenVersion (0 for a valid project event) is not the current state.
func (tx *Tx) Stale(kind, id string, seenVersion uint64) (bool, error) {
	switch kind {
	case "token":
		st, err := tx.Token(id)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil && st.GetToken().GetVersion() != seenVersion, err
	case "project":
		_, err := tx.Project(id)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil && seenVersion != 0, err
	}
	return false, nil
}

// Requeue queues the current state of a token or project again, without
// changing it: used to repair the stream when its latest message for a
// subject is not the issuer's latest state. It returns false when the
// record is unknown or its state is already the one seen.
func (tx *Tx) Requeue(kind, id string, seenVersion uint64) (bool, error) {
	if stale, err := tx.Stale(kind, id, seenVersion); !stale || err != nil {
		return false, err
	}
	var ev *gatepassv1.Event
	if kind == "token" {
		st, err := tx.Token(id)
		if err != nil {
			return false, err
		}
		ev = &gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: st}}
	} else {
		p, err := tx.Project(id)
		if err != nil {
			return false, err
		}
		ev = &gatepassv1.Event{Body: &gatepassv1.Event_Project{Project: &gatepassv1.ProjectState{Project: p}}}
	}
	_, err := tx.enqueue(propagation.LaneChange, ev)
	return err == nil, err
}

// requeueAll queues the current state of every token and project into
// the bulk lane: after the stream was lost or recreated, this rebuilds it.
// It returns how many events were queued.
func (tx *Tx) requeueAll() (int, error) {
	n := 0
	{
		err := tx.btx.Bucket(bucketProjects).ForEach(func(_, v []byte) error {
			p := &gatepassv1.Project{}
			if err := proto.Unmarshal(v, p); err != nil {
				return fmt.Errorf("decode project: %w", err)
			}
			n++
			_, err := tx.enqueue(propagation.LaneBulk, &gatepassv1.Event{Body: &gatepassv1.Event_Project{Project: &gatepassv1.ProjectState{Project: p}}})
			return err
		})
		if err != nil {
			return n, err
		}
		err = tx.btx.Bucket(bucketTokens).ForEach(func(_, v []byte) error {
			st := &gatepassv1.TokenState{}
			if err := proto.Unmarshal(v, st); err != nil {
				return fmt.Errorf("decode token: %w", err)
			}
			n++
			_, err := tx.enqueue(propagation.LaneBulk, &gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: st}})
			return err
		})
		return n, err
	}
}
