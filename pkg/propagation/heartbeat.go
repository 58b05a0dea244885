package propagation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ensure creates the stream if needed and adopts its instance: a new
// instance gets every state republished.
func (p *Publisher) ensure(ctx context.Context) error {
	info, err := p.stream.Ensure(ctx)
	if err != nil {
		return fmt.Errorf("create token stream: %w", err)
	}
	n, err := p.outbox.Adopt(info.Created)
	if err != nil {
		return err
	}
	if n > 0 || info.LastSeq == 0 {
		p.opts.Logger.Info("token stream is new or recreated; publishing the state of every token and project", "events", n)
	}
	if !p.instance.IsZero() && !info.Created.Equal(p.instance) {
		// Changes published to the lost instance are covered by nothing.
		p.pending = nil
	}
	// A new instance counts only once checkpointed: at once.
	p.instance, p.ready, p.dirty, p.due = info.Created, true, true, time.Time{}
	p.ensuredOnce.Do(func() { close(p.ensured) })
	return nil
}

// Heartbeat tells validators the stream head, dated just before it was
// read. A missing or recreated stream is noticed here, whatever the load.
func (p *Publisher) Heartbeat(ctx context.Context) error {
	at := p.opts.Now()
	info, err := p.stream.Info(ctx)
	if errors.Is(err, ErrNoStream) {
		p.ready = false
		p.Notify()
		return p.ensure(ctx)
	}
	if err != nil {
		return err
	}
	if p.ready && !info.Created.Equal(p.instance) {
		p.ready = false
		p.Notify()
	}
	data, err := p.signer.Seal(&gatepassv1.Event{
		Id:   fmt.Sprintf("hb_%d", at.UnixNano()),
		Time: timestamppb.New(at),
		Body: &gatepassv1.Event_Heartbeat{Heartbeat: &gatepassv1.Heartbeat{
			StreamLastSequence: info.LastSeq, StreamCreated: timestamppb.New(info.Created),
		}},
	})
	if err != nil {
		return err
	}
	return p.bus.Publish(event.HeartbeatSubject, data)
}
