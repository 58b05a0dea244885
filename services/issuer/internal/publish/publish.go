// Package publish connects the issuer's propagation.Publisher to NATS: the
// token stream on JetStream, heartbeats on core NATS, and the guard that
// repairs the stream when a message there is not the current state.
//
// Each outbox entry is published with Nats-Msg-Id set to its event id and
// deleted only after JetStream acknowledged it, so a crash at any point
// either leaves the entry to be published again (deduplicated by JetStream
// within its window, and harmless after it thanks to per-token versions) or
// has already published it.
package publish

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/propagation/natsjs"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig is the token stream's configuration: one subject per token
// or project, only the latest message of each kept, file storage, and no
// deleting or purging through the API.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              event.StreamName,
		Description:       "gatepass: latest signed state of every token and project",
		Subjects:          event.StreamSubjects,
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
		Replicas:          replicas,
		DenyDelete:        true,
		DenyPurge:         true,
		AllowDirect:       true,
		// Batches of changes are published atomically (one sync for the
		// batch, see Stream.Publish); servers before 2.12 ignore it.
		AllowAtomicPublish: true,
	}
}

// AuditStreamConfig keeps signed audit events for external consumers for
// a year, one subject per workspace.
//
// On a single server its writes are acknowledged before they reach the
// disk (async persist):
// the audit trail of record is the issuer's database (ListAuditEvents),
// and this copy is not part of any receipt, so it need not cost the
// server a sync per event, which would halve the rate of changes on a
// single server. A server crash may lose the newest copies, never the
// record.
func AuditStreamConfig(replicas int) jetstream.StreamConfig {
	persist := jetstream.DefaultPersistMode
	if replicas <= 1 {
		// Replicated streams do not take it (and need it less: their
		// raft log batches syncs).
		persist = jetstream.AsyncPersistMode
	}
	return jetstream.StreamConfig{
		PersistMode: persist,
		Name:        event.AuditStreamName,
		Description: "gatepass: signed audit events, for external consumers",
		Subjects:    []string{event.AuditSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      365 * 24 * time.Hour,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
		Replicas:    replicas,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// Options configure the publisher.
type Options struct {
	// Replicas of the token and audit streams.
	Replicas int
	// Heartbeat is the interval between heartbeats.
	Heartbeat time.Duration
	// Halt stops publishing altogether: a failure hook for tests that kill
	// the issuer between commit and publish.
	Halt   bool
	Logger *slog.Logger
	Now    func() time.Time
	// OnStep, if set, learns of every batch of state published.
	OnStep func(events int, took time.Duration)
}

// New returns the issuer's publisher over NATS.
func New(st *store.Store, nc *nats.Conn, js jetstream.JetStream, signer *event.Signer, o Options) (*propagation.Publisher, error) {
	stream := NewStream(js, o.Replicas)
	if o.Logger != nil {
		stream.log, stream.refused = o.Logger, propagation.NewRepeatLog(o.Logger, time.Hour)
	}
	return propagation.NewPublisher(st, stream, nc, signer, propagation.PublisherOptions{
		Heartbeat: o.Heartbeat, Halt: o.Halt, Logger: o.Logger, Now: o.Now, OnStep: o.OnStep,
	})
}

// Stream is the token stream on JetStream (propagation.Stream).
type Stream struct {
	js       jetstream.JetStream
	replicas int
	// atomicFailed counts atomic batches sent again entry by entry, and
	// refused logs why (at most once an hour; nil logs nothing).
	atomicFailed atomic.Int64
	refused      *propagation.RepeatLog
	log          *slog.Logger
}

// NewStream returns the token stream with replicas.
func NewStream(js jetstream.JetStream, replicas int) *Stream {
	return &Stream{js: js, replicas: replicas}
}

// Ensure implements propagation.Stream.
func (s *Stream) Ensure(ctx context.Context) (propagation.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := s.js.CreateOrUpdateStream(ctx, StreamConfig(s.replicas))
	if err != nil {
		return propagation.StreamInfo{}, err
	}
	if _, err := s.js.CreateOrUpdateStream(ctx, AuditStreamConfig(s.replicas)); err != nil {
		return propagation.StreamInfo{}, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return propagation.StreamInfo{}, err
	}
	return natsjs.FromInfo(info), nil
}

// Info implements propagation.Stream.
func (s *Stream) Info(ctx context.Context) (propagation.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return natsjs.Info(ctx, s.js)
}

// Publish implements propagation.Stream. A batch for the token stream of
// atomicFrom entries or more goes as atomic batches (publishAtomic): one
// sync for all of them instead of one each. Anything else, or an atomic
// batch the server refuses, is sent entry by entry (publishEach).
func (s *Stream) Publish(ctx context.Context, entries []propagation.Entry) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if len(entries) < atomicFrom || !allIn(entries, event.StreamName) {
		return s.publishEach(ctx, entries)
	}
	seqs := make([]uint64, 0, len(entries))
	for chunk := range slices.Chunk(entries, maxAtomic) {
		got, err := s.publishAtomic(ctx, chunk)
		if err != nil {
			// A message already stored (a republished outbox entry), a
			// server without atomic batches or with a smaller limit, a
			// lost commit: entry by entry, which deduplicates.
			s.atomicFailed.Add(1)
			if s.refused != nil {
				s.refused.Warn("atomic batch refused, published entry by entry (one sync per event)", err)
			}
			if got, err = s.publishEach(ctx, chunk); err != nil {
				return nil, err
			}
		} else if s.log != nil {
			s.log.Debug("published an atomic batch", "events", len(chunk), "last_sequence", got[len(got)-1])
		}
		seqs = append(seqs, got...)
	}
	return seqs, nil
}

// publishEach sends every entry at once (JetStream keeps their order on
// one connection), then collects the acknowledgements: the stream syncs
// each message on its own.
func (s *Stream) publishEach(ctx context.Context, entries []propagation.Entry) ([]uint64, error) {
	futures := make([]jetstream.PubAckFuture, len(entries))
	for i, e := range entries {
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}},
			jetstream.WithMsgID(e.EventID), jetstream.WithExpectStream(event.StreamOf(e.Subject)))
		if err != nil {
			return nil, fmt.Errorf("publish event %s: %w", e.EventID, err)
		}
		futures[i] = f
	}
	seqs := make([]uint64, len(entries))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			seqs[i] = ack.Sequence
		case err := <-f.Err():
			return nil, fmt.Errorf("publish event %s: %w", entries[i].EventID, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("publish event %s: %w", entries[i].EventID, ctx.Err())
		}
	}
	return seqs, nil
}

// Guard watches the stream's subjects and hands every message there to
// Repair. The token stream keeps only the last message per subject, so
// without this a replayed old event would be what a validator rebuilding
// from scratch reads.
func Guard(nc *nats.Conn, p *propagation.Publisher, log *slog.Logger) (*nats.Subscription, error) {
	// One subscription covers token and project subjects; Repair skips the
	// others it matches.
	sub, err := nc.Subscribe("gatepass.*.*", func(m *nats.Msg) {
		requeued, err := p.Repair(m.Subject, m.Data)
		if err != nil {
			log.Error("repair token stream", "subject", m.Subject, "error", err)
			return
		}
		if requeued {
			log.Warn("stream message is not the latest state; republished it", "subject", m.Subject)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watch stream subjects: %w", err)
	}
	return sub, nil
}
