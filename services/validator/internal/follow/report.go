package follow

import (
	"context"

	"github.com/gatepass/gatepass/pkg/clock"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Report returns the next signed report to the issuer: what this
// validator has applied, in which stream instance, whether it serves, and
// its answer bound. Boot id and counter make every report unique, so the
// issuer recognises replays.
func (f *Follower) Report() ([]byte, error) {
	serving := f.Serving()
	f.mu.Lock()
	f.counter++
	var distrusted uint64
	if f.distrusted {
		distrusted = f.rebuiltFor
	}
	r := &gatepassv1.ValidatorReport{
		ValidatorId:     f.opts.ID,
		AppliedSequence: f.applied,
		StreamCreated:   timestamppb.New(f.instance),
		Serving:         serving,
		Time:            timestamppb.New(f.opts.Now()),
		AnswerBound:     durationpb.New(f.answerBound()),
		BootId:          f.boot,
		Counter:         f.counter,

		DistrustedCheckpoint: distrusted,
	}
	f.mu.Unlock()
	seal := f.opts.Seal
	if seal == nil {
		seal = unsigned
	}
	return seal(r)
}

// reportLoop sends a report after every applied batch and every
// ReportInterval.
func (f *Follower) reportLoop(ctx context.Context, bus propagation.Bus) {
	ticks, stop := clock.OrReal(f.opts.Tick)(f.opts.ReportInterval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		case <-f.changed:
		}
		data, err := f.Report()
		if err == nil {
			err = bus.Publish(event.ReportSubject, data)
		}
		if err != nil && ctx.Err() == nil {
			f.opts.Logger.Debug("report to issuer", "error", err)
		}
	}
}

// unsigned wraps a report in an envelope without a signature.
func unsigned(m proto.Message) ([]byte, error) {
	payload, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&gatepassv1.Envelope{Payload: payload})
}
