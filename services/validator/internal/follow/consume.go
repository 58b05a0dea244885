package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/propagation/natsjs"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
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

// nextBatch waits for a message and returns it with those already
// waiting (up to maxBatch); nil when msgs is closed.
func nextBatch(msgs <-chan jetstream.Msg) ([]Msg, error) {
	m, ok := <-msgs
	if !ok {
		return nil, nil
	}
	raw := []jetstream.Msg{m}
drain:
	for len(raw) < maxBatch {
		select {
		case m, ok := <-msgs:
			if !ok {
				break drain
			}
			raw = append(raw, m)
		default:
			break drain
		}
	}
	batch := make([]Msg, 0, len(raw))
	for _, m := range raw {
		md, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("message metadata: %w", err)
		}
		batch = append(batch, Msg{Seq: md.Sequence.Stream, Subject: m.Subject(), Data: m.Data()})
	}
	return batch, nil
}

// consume resumes the stream from the cache's position and applies it
// until an error, a restart, or ctx ends.
func (f *Follower) consume(ctx context.Context, js jetstream.JetStream, stream Stream) error {
	it, err := f.subscribe(ctx, js, stream)
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	errc := make(chan error, 2)
	done := make(chan struct{})
	defer close(done) // runs before it.Stop: no stage blocks on a send
	// Whatever is staged is committed when the stream goes quiet, and
	// when consumption ends.
	defer func() { _ = f.cache.Flush() }()
	if err := f.applyAll(f.pipeline(it, done, errc)); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return err
	}
	return nil
}

// subscribe opens an ordered consumer from where the cache resumes: the
// next sequence in the same stream instance, or the start.
func (f *Follower) subscribe(ctx context.Context, js jetstream.JetStream, stream Stream) (jetstream.MessagesContext, error) {
	asked := f.opts.Now()
	ictx, cancel := context.WithTimeout(ctx, f.opts.Staleness/4)
	info, err := stream.Info(ictx)
	cancel()
	if err != nil {
		return nil, err
	}
	from, err := f.Resume(info, asked)
	if err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: event.StreamSubjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	f.opts.Logger.Info("following token stream", "from_sequence", from, "stream_last", info.LastSeq)
	cons, err := js.OrderedConsumer(ctx, event.StreamName, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	// The server may send as many messages as a batch holds before it
	// hears from us again. With nats.go's default (500, asking for more at
	// half), a replay of 1.18M tokens waited on a pull every 250 messages:
	// SERVING after 13.2–17.5 s (15.3 s on average over five cold starts)
	// instead of 15.8–21.5 s (18.3 s), interleaved.
	it, err := cons.Messages(jetstream.PullMaxMessages(maxBatch))
	if err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	return it, nil
}

// pipeline runs two of the three stages, so that checking the signatures
// of one batch (on every CPU) overlaps with applying the one before: a
// reader, and an opener that batches and verifies. applyAll is the third.
// A stage's error goes to errc; both stop when done closes.
func (f *Follower) pipeline(it jetstream.MessagesContext, done <-chan struct{}, errc chan<- error) <-chan []cache.Item {
	msgs := make(chan jetstream.Msg, maxBatch)
	batches := make(chan []cache.Item, 1)
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
	go func() {
		defer close(batches)
		for {
			batch, err := nextBatch(msgs)
			if err != nil {
				errc <- err
				return
			}
			if batch == nil {
				return
			}
			select {
			case batches <- f.open(batch):
			case <-done:
				return
			}
		}
	}()
	return batches
}

// applyAll applies verified batches until they end, committing what is
// staged once the stream has been quiet for commitDelay. It returns
// ErrRestart when the stream was replaced.
func (f *Follower) applyAll(batches <-chan []cache.Item) error {
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for {
		select {
		case items, ok := <-batches:
			if !ok {
				return nil
			}
			if err := f.apply(items); err != nil {
				return err
			}
			if f.cache.Staged() > 0 {
				quiet.Reset(commitDelay)
			}
		case <-quiet.C:
			if err := f.cache.Flush(); err != nil {
				return err
			}
		case <-f.resync:
			f.opts.Logger.Warn("the token stream was replaced; following the new one")
			return ErrRestart
		}
	}
}
