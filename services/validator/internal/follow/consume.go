package follow

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/propagation/natsjs"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream is the token stream on JetStream (Stream).
type JetStream struct {
	JS jetstream.JetStream
}

// Info implements Stream.
func (s JetStream) Info(ctx context.Context) (propagation.StreamInfo, error) {
	return natsjs.Info(ctx, s.JS)
}

// maxBatch bounds the messages applied in one cache transaction.
const maxBatch = 4096

// consume resumes the stream from the cache's position and applies it
// until an error, a restart, or ctx ends.
func (f *Follower) consume(ctx context.Context, js jetstream.JetStream, stream Stream) error {
	asked := f.opts.Now()
	ictx, cancel := context.WithTimeout(ctx, f.opts.Staleness/4)
	info, err := stream.Info(ictx)
	cancel()
	if err != nil {
		return err
	}
	from, err := f.Resume(info, asked)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: event.StreamSubjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	f.opts.Logger.Info("following token stream", "from_sequence", from, "stream_last", info.LastSeq)
	cons, err := js.OrderedConsumer(ctx, event.StreamName, cfg)
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	msgs := make(chan jetstream.Msg, maxBatch)
	errc := make(chan error, 1)
	done := make(chan struct{})
	defer close(done) // runs before it.Stop: the reader never blocks on a send
	go func() {
		defer close(msgs)
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	for {
		var m jetstream.Msg
		var ok bool
		select {
		case m, ok = <-msgs:
		case <-f.resync:
			f.opts.Logger.Warn("the token stream was replaced; following the new one")
			return ErrRestart
		}
		if !ok {
			break
		}
		batch := []jetstream.Msg{m}
	drain:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		items := make([]Msg, 0, len(batch))
		for _, m := range batch {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("message metadata: %w", err)
			}
			items = append(items, Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Data: m.Data()})
		}
		if err := f.Apply(items); err != nil {
			return err
		}
	}
	if err := <-errc; !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return err
	}
	return nil
}
