package store

import (
	"errors"
	"fmt"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// OutboxEntry is a sealed event waiting to be published.
type OutboxEntry struct {
	// Key orders entries and deletes this one.
	Key []byte
	// EventID becomes the JetStream Nats-Msg-Id.
	EventID string
	Subject string
	// Data is the sealed envelope.
	Data []byte
}

// enqueue seals ev and appends it to the outbox in the current transaction.
func (tx *Tx) enqueue(ev *gatepassv1.Event) (string, error) {
	b := tx.btx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return "", err
	}
	ev.Id = newEventID(tx.s.now(), seq)
	ev.Time = timestamppb.New(tx.s.now())
	subject := event.Subject(ev)
	data, err := tx.s.seal(ev)
	if err != nil {
		return "", err
	}
	// Value: subject, NUL, event id, NUL, sealed envelope.
	v := make([]byte, 0, len(subject)+len(ev.Id)+2+len(data))
	v = append(v, subject...)
	v = append(v, 0)
	v = append(v, ev.Id...)
	v = append(v, 0)
	v = append(v, data...)
	if err := b.Put(seqKey(seq), v); err != nil {
		return "", err
	}
	return ev.Id, nil
}

// Outbox returns up to limit entries, oldest first.
func (s *Store) Outbox(limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.View(func(tx *Tx) error {
		c := tx.btx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			e, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// DeleteOutbox removes published entries.
func (s *Store) DeleteOutbox(keys ...[]byte) error {
	return s.Update(func(tx *Tx) error {
		b := tx.btx.Bucket(bucketOutbox)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func decodeOutbox(k, v []byte) (OutboxEntry, error) {
	i := indexByte(v, 0)
	if i < 0 {
		return OutboxEntry{}, fmt.Errorf("corrupt outbox entry %x", k)
	}
	j := indexByte(v[i+1:], 0)
	if j < 0 {
		return OutboxEntry{}, fmt.Errorf("corrupt outbox entry %x", k)
	}
	return OutboxEntry{
		Key:     append([]byte(nil), k...),
		Subject: string(v[:i]),
		EventID: string(v[i+1 : i+1+j]),
		Data:    append([]byte(nil), v[i+2+j:]...),
	}, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
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
	_, err := tx.enqueue(ev)
	return err == nil, err
}

// RequeueAll queues the current state of every token and project again:
// after the stream was lost or recreated, this rebuilds it. It returns how
// many events were queued.
func (s *Store) RequeueAll() (int, error) {
	n := 0
	err := s.Update(func(tx *Tx) error {
		err := tx.btx.Bucket(bucketProjects).ForEach(func(_, v []byte) error {
			p := &gatepassv1.Project{}
			if err := proto.Unmarshal(v, p); err != nil {
				return fmt.Errorf("decode project: %w", err)
			}
			n++
			_, err := tx.enqueue(&gatepassv1.Event{Body: &gatepassv1.Event_Project{Project: &gatepassv1.ProjectState{Project: p}}})
			return err
		})
		if err != nil {
			return err
		}
		return tx.btx.Bucket(bucketTokens).ForEach(func(_, v []byte) error {
			st := &gatepassv1.TokenState{}
			if err := proto.Unmarshal(v, st); err != nil {
				return fmt.Errorf("decode token: %w", err)
			}
			n++
			_, err := tx.enqueue(&gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: st}})
			return err
		})
	})
	return n, err
}
