// Package publish moves the issuer's outbox to JetStream and sends signed
// heartbeats carrying the stream's last sequence.
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
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// StreamConfig is the token stream's configuration: one subject per token
// or project, only the latest message of each kept, file storage.
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
		AllowDirect:       true,
	}
}

// Options configure a Publisher.
type Options struct {
	// Replicas of the token stream.
	Replicas int
	// Heartbeat is the interval between heartbeats.
	Heartbeat time.Duration
	// Halt stops publishing altogether: a failure hook for tests that kill
	// the issuer between commit and publish.
	Halt   bool
	Logger *slog.Logger
	Now    func() time.Time
}

type published struct {
	seq uint64
	at  time.Time
}

// Publisher drains the outbox and sends heartbeats.
type Publisher struct {
	store  *store.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	signer *event.Signer
	opts   Options
	wake   chan struct{}

	mu      sync.Mutex
	done    map[string]published
	waiters map[string]chan struct{}
}

// New returns a publisher. Call Run to start it.
func New(s *store.Store, nc *nats.Conn, js jetstream.JetStream, signer *event.Signer, o Options) *Publisher {
	return &Publisher{
		store: s, nc: nc, js: js, signer: signer, opts: o,
		wake:    make(chan struct{}, 1),
		done:    map[string]published{},
		waiters: map[string]chan struct{}{},
	}
}

// Notify tells the publisher that the outbox has new entries.
func (p *Publisher) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	if p.opts.Halt {
		p.opts.Logger.Warn("failpoint: outbox publishing halted")
	}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	heartbeat := time.NewTicker(p.opts.Heartbeat)
	defer heartbeat.Stop()
	ready := false
	for {
		if !ready {
			if err := p.ensureStream(ctx); err != nil {
				if ctx.Err() == nil {
					p.opts.Logger.Warn("create token stream; will retry", "error", err)
				}
			} else {
				ready = true
			}
		}
		if ready && !p.opts.Halt {
			if err := p.drain(ctx); err != nil && ctx.Err() == nil {
				p.opts.Logger.Warn("publish outbox", "error", err)
				// The stream may be gone: check (and recreate) it next time.
				ready = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry.C:
			p.prune()
		case <-heartbeat.C:
			if err := p.heartbeat(ctx); err != nil && ctx.Err() == nil {
				p.opts.Logger.Warn("send heartbeat", "error", err)
			}
		}
	}
}

func (p *Publisher) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := p.js.CreateOrUpdateStream(ctx, StreamConfig(p.opts.Replicas))
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.LastSeq == 0 {
		// A new or recreated stream: put every token's and project's state
		// back, so validators can rebuild from it. Harmless when some is
		// already queued: versions make repeats no-ops.
		n, err := p.store.RequeueAll()
		if err != nil {
			return err
		}
		if n > 0 {
			p.opts.Logger.Info("token stream is empty (new or recreated); publishing the state of every token and project", "events", n)
		}
	}
	_, err = p.js.CreateOrUpdateStream(ctx, AuditStreamConfig(p.opts.Replicas))
	return err
}

// AuditStreamConfig keeps signed audit events for external consumers for
// a year, one subject per workspace.
func AuditStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
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
	}
}

func (p *Publisher) drain(ctx context.Context) error {
	for {
		entries, err := p.store.Outbox(256)
		if err != nil || len(entries) == 0 {
			return err
		}
		for _, e := range entries {
			msg := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ack, err := p.js.PublishMsg(pctx, msg, jetstream.WithMsgID(e.EventID), jetstream.WithExpectStream(event.StreamOf(e.Subject)))
			cancel()
			if err != nil {
				return fmt.Errorf("publish event %s: %w", e.EventID, err)
			}
			if err := p.store.DeleteOutbox(e.Key); err != nil {
				return fmt.Errorf("delete published event %s: %w", e.EventID, err)
			}
			p.record(e.EventID, ack.Sequence)
		}
	}
}

func (p *Publisher) record(eventID string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[eventID] = published{seq: seq, at: p.opts.Now()}
	if ch, ok := p.waiters[eventID]; ok {
		close(ch)
		delete(p.waiters, eventID)
	}
}

// prune forgets published events nobody waited for.
func (p *Publisher) prune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := p.opts.Now().Add(-time.Minute)
	for id, d := range p.done {
		if d.at.Before(cutoff) {
			delete(p.done, id)
		}
	}
}

// WaitPublished blocks until the event is on the stream and returns its
// sequence, or returns ctx's error.
func (p *Publisher) WaitPublished(ctx context.Context, eventID string) (uint64, error) {
	p.mu.Lock()
	if d, ok := p.done[eventID]; ok {
		delete(p.done, eventID)
		p.mu.Unlock()
		return d.seq, nil
	}
	ch, ok := p.waiters[eventID]
	if !ok {
		ch = make(chan struct{})
		p.waiters[eventID] = ch
	}
	p.mu.Unlock()
	select {
	case <-ch:
		p.mu.Lock()
		d := p.done[eventID]
		delete(p.done, eventID)
		p.mu.Unlock()
		return d.seq, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.waiters, eventID)
		p.mu.Unlock()
		return 0, ctx.Err()
	}
}

func (p *Publisher) heartbeat(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := p.js.Stream(ictx, event.StreamName)
	if err != nil {
		return err
	}
	info, err := s.Info(ictx)
	if err != nil {
		return err
	}
	now := p.opts.Now()
	data, err := p.signer.Seal(&gatepassv1.Event{
		Id:   fmt.Sprintf("hb_%d", now.UnixNano()),
		Time: timestamppb.New(now),
		Body: &gatepassv1.Event_Heartbeat{Heartbeat: &gatepassv1.Heartbeat{
			StreamLastSequence: info.State.LastSeq, StreamCreated: timestamppb.New(info.Created),
		}},
	})
	if err != nil {
		return err
	}
	if err := p.nc.Publish(event.HeartbeatSubject, data); err != nil {
		return err
	}
	return nil
}
