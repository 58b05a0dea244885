// Package follow keeps a validator's cache current with the token stream
// and knows whether the validator may answer.
//
// A Follower reads the stream with an ordered consumer from the sequence
// after the one stored in the cache, verifies each envelope's signature,
// and applies batches in one cache transaction with their sequence. It is
// ready once it has caught up with the stream head seen at start, and
// current while, within the staleness bound, it has confirmed that it had
// applied everything up to the stream's last sequence. Confirmations come
// from signed issuer heartbeats, or from a JetStream stream-info call when
// heartbeats stop (the issuer is down). When neither arrives (NATS is
// unreachable) the validator is stale and refuses to answer, unless the
// operator allows stale answers for a bounded time.
//
// # Caveats
//
// A confirmation is dated when the stream head was observed: the local time
// before a stream-info call, or the receipt time of a heartbeat. Heartbeats
// older than the staleness bound by their own timestamp, or older than one
// already seen, are ignored, so replaying an old heartbeat cannot confirm
// a validator that has fallen behind.
//
// Sequence numbers belong to one instance of the stream. Heartbeats and
// stream-info answers name the instance (its creation time); one from
// another instance confirms nothing and makes the follower start over,
// replaying the new stream over its cache.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	// ErrNotReady is returned by Current until the first catch-up is done.
	ErrNotReady = errors.New("validator is catching up with the token stream")
	// ErrStale is returned by Current when the validator could not confirm
	// it is up to date within the staleness bound.
	ErrStale = errors.New("validator cannot confirm it is up to date")
)

// Options configure a Follower.
type Options struct {
	// ID names this validator in reports to the issuer.
	ID string
	// Staleness is the longest time the validator answers without
	// confirming it is current.
	Staleness time.Duration
	// ServeStaleFor lets the validator keep answering this long past the
	// staleness bound when it cannot confirm; 0 fails closed at once.
	ServeStaleFor time.Duration
	// ReportInterval between reports to the issuer.
	ReportInterval time.Duration
	// Seal signs a report with the validator's key; nil sends it unsigned.
	Seal   func(proto.Message) ([]byte, error)
	Logger *slog.Logger
	Now    func() time.Time
}

type target struct {
	seq   uint64
	since time.Time
}

// Follower applies the token stream to a cache.
type Follower struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	cache    *cache.Cache
	verifier *event.Verifier
	opts     Options

	applied atomic.Uint64
	dropped atomic.Uint64
	stale   atomic.Uint64
	changed chan struct{} // signalled after every batch, for reports

	resync chan struct{} // signalled when the stream is not the one followed

	mu            sync.Mutex
	ready         bool
	confirmedAt   time.Time
	targets       []target
	lastHeartbeat time.Time
	// instance is the creation time of the stream being followed; targets
	// from another instance confirm nothing.
	instance time.Time
}

// New returns a follower; Run starts it.
func New(nc *nats.Conn, js jetstream.JetStream, c *cache.Cache, v *event.Verifier, o Options) *Follower {
	return &Follower{nc: nc, js: js, cache: c, verifier: v, opts: o, changed: make(chan struct{}, 1), resync: make(chan struct{}, 1)}
}

// Applied returns the last stream sequence applied.
func (f *Follower) Applied() uint64 { return f.applied.Load() }

// Dropped returns how many messages were dropped as unsigned, badly signed
// or malformed.
func (f *Follower) Dropped() uint64 { return f.dropped.Load() }

// StaleAnswers returns how many times Current allowed an answer while
// stale, under ServeStaleFor.
func (f *Follower) StaleAnswers() uint64 { return f.stale.Load() }

// Current returns nil when the validator may answer, ErrNotReady before
// the first catch-up, and ErrStale when it cannot confirm it is current.
func (f *Follower) Current() error { return f.current(true) }

// Serving reports whether the validator may answer, without counting it as
// an answer.
func (f *Follower) Serving() bool { return f.current(false) == nil }

func (f *Follower) current(countStale bool) error {
	f.mu.Lock()
	ready, confirmed := f.ready, f.confirmedAt
	f.mu.Unlock()
	if !ready {
		return ErrNotReady
	}
	age := f.opts.Now().Sub(confirmed)
	if age <= f.opts.Staleness {
		return nil
	}
	if age <= f.opts.Staleness+f.opts.ServeStaleFor {
		if countStale {
			f.stale.Add(1)
		}
		return nil
	}
	return ErrStale
}

// Run follows the stream until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	pos, err := f.cache.Position()
	if err != nil {
		return err
	}
	f.applied.Store(pos.Sequence)

	hb, err := f.nc.Subscribe(event.HeartbeatSubject, f.onHeartbeat)
	if err != nil {
		return fmt.Errorf("subscribe to heartbeats: %w", err)
	}
	defer hb.Unsubscribe()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { f.reportLoop(ctx) })
	wg.Go(func() { f.confirmLoop(ctx) })

	for ctx.Err() == nil {
		if err := f.follow(ctx); err != nil && ctx.Err() == nil {
			f.opts.Logger.Warn("following the token stream; retrying", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// follow checks the stream against the stored position, then consumes it
// until an error or ctx ends.
func (f *Follower) follow(ctx context.Context) error {
	start := f.opts.Now()
	info, err := f.streamInfo(ctx)
	if err != nil {
		return err
	}
	pos, err := f.cache.Position()
	if err != nil {
		return err
	}
	switch {
	case pos.StreamCreated.IsZero():
		// A new cache: remember which stream instance it follows.
		if err := f.cache.Rewind(info.Created); err != nil {
			return err
		}
		pos.Sequence = 0
	case f.gap(pos, info):
		f.opts.Logger.Warn("token stream is not the one the cache followed; replaying it from the start",
			"applied", pos.Sequence, "stream_first", info.State.FirstSeq, "stream_last", info.State.LastSeq)
		if err := f.cache.Rewind(info.Created); err != nil {
			return err
		}
		f.applied.Store(0)
		pos.Sequence = 0
	}
	f.mu.Lock()
	f.instance = info.Created
	f.targets = nil
	f.mu.Unlock()
	f.addTarget(target{seq: info.State.LastSeq, since: start})

	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: event.StreamSubjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if pos.Sequence > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = pos.Sequence + 1
	}
	f.opts.Logger.Info("following token stream", "from_sequence", pos.Sequence+1, "stream_last", info.State.LastSeq)
	cons, err := f.js.OrderedConsumer(ctx, event.StreamName, cfg)
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

	msgs := make(chan jetstream.Msg, 512)
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
			return nil
		}
		if !ok {
			break
		}
		batch := []jetstream.Msg{m}
	drain:
		for len(batch) < 512 {
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
		if err := f.apply(batch); err != nil {
			return err
		}
	}
	if err := <-errc; !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return err
	}
	return nil
}

// gap reports whether the stored position cannot be resumed in this stream:
// the stream was recreated, or messages after the position are gone.
func (f *Follower) gap(pos cache.Position, info *jetstream.StreamInfo) bool {
	return !pos.StreamCreated.Equal(info.Created) ||
		pos.Sequence > info.State.LastSeq ||
		(info.State.Msgs > 0 && pos.Sequence+1 < info.State.FirstSeq)
}

// apply verifies and applies a batch in one transaction.
func (f *Follower) apply(batch []jetstream.Msg) error {
	items := make([]cache.Item, 0, len(batch))
	for _, m := range batch {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		it := cache.Item{Sequence: md.Sequence.Stream}
		ev, err := f.verifier.Open(m.Data())
		switch {
		case err != nil:
			f.drop(m.Subject(), md.Sequence.Stream, err)
		case event.Subject(ev) != m.Subject():
			f.drop(m.Subject(), md.Sequence.Stream, errors.New("event does not belong on its subject"))
		default:
			it.Token, it.Project = ev.GetToken(), ev.GetProject()
		}
		items = append(items, it)
	}
	res, err := f.cache.Apply(items)
	if err != nil {
		return fmt.Errorf("apply events: %w", err)
	}
	last := items[len(items)-1].Sequence
	f.applied.Store(last)
	f.opts.Logger.Debug("applied events", "applied", res.Applied, "ignored", res.Ignored, "sequence", last)
	f.settle()
	select {
	case f.changed <- struct{}{}:
	default:
	}
	return nil
}

func (f *Follower) drop(subject string, seq uint64, err error) {
	f.dropped.Add(1)
	f.opts.Logger.Warn("dropped event", "subject", subject, "sequence", seq, "error", err)
}

// addTarget records that the stream head was at t.seq at time t.since.
func (f *Follower) addTarget(t target) {
	f.mu.Lock()
	if len(f.targets) < 1024 {
		f.targets = append(f.targets, t)
	}
	f.mu.Unlock()
	f.settle()
}

// settle turns targets the cache has reached into confirmations.
func (f *Follower) settle() {
	applied := f.applied.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.targets[:0]
	for _, t := range f.targets {
		if t.seq <= applied {
			if t.since.After(f.confirmedAt) {
				f.confirmedAt = t.since
			}
			if !f.ready {
				f.ready = true
				f.opts.Logger.Info("caught up with the token stream", "sequence", applied)
			}
			continue
		}
		kept = append(kept, t)
	}
	f.targets = kept
}

func (f *Follower) onHeartbeat(m *nats.Msg) {
	now := f.opts.Now()
	ev, err := f.verifier.Open(m.Data)
	if err != nil || ev.GetHeartbeat() == nil {
		f.dropped.Add(1)
		f.opts.Logger.Warn("dropped heartbeat", "error", err)
		return
	}
	sent := ev.GetTime().AsTime()
	f.mu.Lock()
	fresh := now.Sub(sent) <= f.opts.Staleness && sent.Sub(now) <= f.opts.Staleness && sent.After(f.lastHeartbeat)
	if fresh {
		f.lastHeartbeat = sent
	}
	f.mu.Unlock()
	if !fresh {
		f.opts.Logger.Warn("ignored stale or replayed heartbeat", "sent", sent)
		return
	}
	if f.otherInstance(ev.GetHeartbeat().GetStreamCreated().AsTime()) {
		return
	}
	f.addTarget(target{seq: ev.GetHeartbeat().GetStreamLastSequence(), since: now})
}

// otherInstance reports whether a stream creation time is not the one
// followed, and if so asks the follower to start over.
func (f *Follower) otherInstance(created time.Time) bool {
	f.mu.Lock()
	followed := f.instance
	f.mu.Unlock()
	if followed.IsZero() || created.Equal(followed) {
		return followed.IsZero()
	}
	select {
	case f.resync <- struct{}{}:
	default:
	}
	return true
}

// confirmLoop asks JetStream for the stream head whenever heartbeats have
// not confirmed currency recently, so validation survives an issuer outage.
func (f *Follower) confirmLoop(ctx context.Context) {
	tick := time.NewTicker(f.opts.Staleness / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f.mu.Lock()
		age := f.opts.Now().Sub(f.confirmedAt)
		f.mu.Unlock()
		if age < f.opts.Staleness/2 {
			continue
		}
		start := f.opts.Now()
		info, err := f.streamInfo(ctx)
		if err != nil {
			f.opts.Logger.Warn("cannot confirm the token stream head", "error", err)
			continue
		}
		if f.otherInstance(info.Created) {
			continue
		}
		f.addTarget(target{seq: info.State.LastSeq, since: start})
	}
}

func (f *Follower) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Staleness/4)
	defer cancel()
	s, err := f.js.Stream(ctx, event.StreamName)
	if err != nil {
		return nil, fmt.Errorf("token stream: %w", err)
	}
	return s.Info(ctx)
}

// reportLoop tells the issuer what this validator has applied, after every
// batch and every ReportInterval.
func (f *Follower) reportLoop(ctx context.Context) {
	tick := time.NewTicker(f.opts.ReportInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-f.changed:
		}
		seal := f.opts.Seal
		if seal == nil {
			seal = unsigned
		}
		data, err := seal(&gatepassv1.ValidatorReport{
			ValidatorId:     f.opts.ID,
			AppliedSequence: f.applied.Load(),
			Serving:         f.Serving(),
			Time:            timestamppb.New(f.opts.Now()),
			AnswerBound:     durationpb.New(f.opts.Staleness + f.opts.ServeStaleFor),
		})
		if err == nil {
			err = f.nc.Publish(event.ReportSubject, data)
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
