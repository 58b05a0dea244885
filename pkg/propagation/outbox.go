package propagation

import (
	"context"
	"errors"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// ErrNoStream is returned by Stream.Info when the token stream does not
// exist.
var ErrNoStream = errors.New("token stream does not exist")

// Lane is one queue of the outbox. The state lanes are drained in order,
// so a lifecycle change never waits behind a bulk republish; the audit
// lane is drained on its own, beside them (Publisher.StepAudit).
type Lane int

const (
	// LaneChange holds lifecycle changes and stream repairs.
	LaneChange Lane = iota
	// LaneBulk holds republished states (after the stream was lost).
	LaneBulk
	// LaneAudit holds audit events, for the audit stream.
	LaneAudit
)

// Entry is a sealed event waiting to be published.
type Entry struct {
	// Key orders entries within their lane and deletes this one.
	Key []byte
	// EventID becomes the JetStream Nats-Msg-Id.
	EventID  string
	Subject  string
	LogIndex uint64
	// Data is the sealed envelope.
	Data []byte
}

// Snapshot is the state lanes of the outbox as of one read: what is
// pending, and the checkpoint of the issuer's state at that moment.
type Snapshot struct {
	Change, Bulk []Entry
	// Stale are the keys of bulk entries a later change superseded: they are
	// deleted unpublished (Bulk holds the rest).
	Stale [][]byte
	// Complete is true when Change and Bulk hold every pending state entry:
	// once they are published, the stream holds exactly Checkpoint's state.
	Complete   bool
	Checkpoint *gatepassv1.Checkpoint
}

// Outbox is the issuer's durable queue of events (package store).
type Outbox interface {
	// Snapshot returns up to limit entries of each state lane, oldest
	// first, with superseded bulk entries set apart.
	Snapshot(limit int) (Snapshot, error)
	// AuditSnapshot returns up to limit entries of the audit lane, oldest
	// first.
	AuditSnapshot(limit int) ([]Entry, error)
	// Delete removes published entries of a lane.
	Delete(lane Lane, keys [][]byte) error
	// Adopt records the stream instance published to; when it is not the
	// one recorded before, it queues every state into LaneBulk in the same
	// transaction and returns how many.
	Adopt(instance time.Time) (int, error)
	// RequeueAll queues every state into LaneBulk and returns how many.
	RequeueAll() (int, error)
	// Repair queues the current state of a token or project again when the
	// version seen on the stream (0 for a project, 1<<63 for garbage) is not
	// its current one.
	Repair(kind, id string, seenVersion uint64) (bool, error)
}

// StreamInfo is what the protocol needs to know about the token stream.
type StreamInfo struct {
	// Created identifies the stream instance.
	Created                 time.Time
	FirstSeq, LastSeq, Msgs uint64
}

// Stream is the token stream as the issuer uses it.
type Stream interface {
	// Ensure creates the stream (and the audit stream) if needed.
	Ensure(ctx context.Context) (StreamInfo, error)
	// Info returns the token stream's state, or ErrNoStream.
	Info(ctx context.Context) (StreamInfo, error)
	// Publish appends entries in order (several in flight) and returns each
	// one's stream sequence.
	Publish(ctx context.Context, entries []Entry) ([]uint64, error)
}

// Bus carries core NATS messages: heartbeats out, reports in.
type Bus interface {
	Publish(subject string, data []byte) error
}
