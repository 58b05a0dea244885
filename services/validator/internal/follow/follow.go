// Package follow keeps a validator's cache current with the token stream
// and knows whether the validator may answer. It is the validator's half
// of the propagation protocol specified in package propagation (and
// docs/propagation.md); read that first.
//
// The Follower's protocol steps are plain methods (Resume, Apply,
// Heartbeat, Confirm, Current, Report) that do no I/O beyond the cache, so
// the simulator drives exactly this code; Run connects them to NATS:
//   - consume.go reads the stream with an ordered consumer and applies
//     batches (apply.go) in one cache transaction with their sequence;
//   - currency.go turns heartbeats and stream-info answers into
//     confirmations, and decides whether the validator may answer;
//   - report.go tells the issuer what the validator has applied.
//
// # Caveats
//
// Sequence numbers belong to one instance of the stream. Heartbeats and
// stream-info answers name the instance (its creation time); one from
// another instance confirms nothing and makes the follower start over,
// replaying the new stream over its cache.
package follow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatepass/gatepass/pkg/clock"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrNotReady is returned by Current until the first catch-up is done.
	ErrNotReady = errors.New("validator is catching up with the token stream")
	// ErrStale is returned by Current when the validator could not confirm
	// it is up to date within the staleness bound.
	ErrStale = errors.New("validator cannot confirm it is up to date")
	// ErrDistrusted is returned by Current when the stream, even rebuilt
	// from the start, disagrees with the issuer's latest checkpoint.
	ErrDistrusted = errors.New("token stream disagrees with the issuer's checkpoint")
	// ErrUnverifiedStream is returned by Current until a checkpoint of the
	// stream instance followed has matched the cache: a recreated stream
	// holds the issuer's whole state only from its first checkpoint, and
	// until then its head confirms nothing about changes the lost instance
	// carried.
	ErrUnverifiedStream = errors.New("token stream not yet verified by an issuer checkpoint")
	// ErrRestart is returned by Apply when consumption must start over with
	// Resume (the cache was rebuilt, or the stream replaced).
	ErrRestart = errors.New("start following the token stream over")
)

// Options configure a Follower.
type Options struct {
	// ID names this validator in reports (a label; its key is its identity).
	ID string
	// Staleness is the longest time the validator answers without
	// confirming it is current.
	Staleness time.Duration
	// ServeStaleFor lets the validator keep answering this long past the
	// staleness bound when it cannot confirm; 0 fails closed at once.
	ServeStaleFor time.Duration
	// MaxClockSkew bounds the difference between the issuer's clock and
	// this validator's; heartbeats dated further ahead are refused.
	MaxClockSkew time.Duration
	// ReportInterval between reports to the issuer, besides one after every
	// applied batch.
	ReportInterval time.Duration
	// Seal signs a report with the validator's key; nil sends it unsigned.
	Seal   func(proto.Message) ([]byte, error)
	Logger *slog.Logger
	Now    func() time.Time
	// Tick drives the report and confirmation loops; nil is the
	// machine's clock.
	Tick clock.Tick
}

// Stream is the token stream as a validator asks about it.
type Stream interface {
	Info(ctx context.Context) (propagation.StreamInfo, error)
}

// Follower applies the token stream to a cache.
type Follower struct {
	cache    *cache.Cache
	verifier *event.Verifier
	opts     Options
	boot     string

	dropped atomic.Uint64
	stale   atomic.Uint64
	skewed  atomic.Uint64
	rebuilt atomic.Uint64
	changed chan struct{} // signalled after every batch, for reports
	// stagedSince is when the oldest batch not yet committed was applied;
	// only the applier touches it.
	stagedSince time.Time
	resync      chan struct{} // signalled when the stream is not the one followed

	mu sync.Mutex
	// Position: the cache's applied sequence and stream instance.
	applied  uint64
	instance time.Time
	// verified: a checkpoint of instance has matched the cache.
	verified bool
	currency
	// rebuiltFor is the checkpoint log index a rebuild was started for; a
	// second mismatch there means the stream itself is wrong.
	rebuiltFor uint64
	distrusted bool
	counter    uint64
	skewSeen   time.Time // last heartbeat beyond the skew bound

	// warn rate-limits warnings an attacker could otherwise repeat at will
	// (forged events and heartbeats).
	warn, warnSkew *propagation.RepeatLog
}

// New returns a follower; Run starts it.
func New(c *cache.Cache, v *event.Verifier, o Options) *Follower {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Follower{
		cache: c, verifier: v, opts: o, boot: hex.EncodeToString(b[:]),
		changed: make(chan struct{}, 1), resync: make(chan struct{}, 1),
		warn: propagation.NewRepeatLog(o.Logger, time.Minute), warnSkew: propagation.NewRepeatLog(o.Logger, time.Minute),
	}
}

// Applied returns the last stream sequence applied.
func (f *Follower) Applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// Dropped returns how many messages were dropped as unsigned, badly signed
// or malformed.
func (f *Follower) Dropped() uint64 { return f.dropped.Load() }

// StaleAnswers returns how many times Current allowed an answer while
// stale, under ServeStaleFor.
func (f *Follower) StaleAnswers() uint64 { return f.stale.Load() }

// Rebuilt returns how many times the cache was rebuilt after disagreeing
// with a checkpoint. (One that cannot be read is rebuilt at open.)
func (f *Follower) Rebuilt() uint64 { return f.rebuilt.Load() }

// Load reads the cache's position; Run calls it first.
func (f *Follower) Load() error {
	pos, err := f.cache.Position()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.applied, f.instance, f.verified = pos.Sequence, pos.StreamCreated, pos.Verified
	f.mu.Unlock()
	return nil
}

// Run follows the stream over NATS until ctx ends or it cannot go on.
func (f *Follower) Run(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	if err := f.Load(); err != nil {
		return err
	}

	hb, err := nc.Subscribe(event.HeartbeatSubject, func(m *nats.Msg) { f.Heartbeat(m.Data) })
	if err != nil {
		return fmt.Errorf("subscribe to heartbeats: %w", err)
	}
	defer hb.Unsubscribe()

	stream := JetStream{JS: js}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { f.reportLoop(ctx, nc); return nil })
	g.Go(func() error { f.confirmLoop(ctx, stream); return nil })
	g.Go(func() error {
		retry := propagation.NewRepeatLog(f.opts.Logger, time.Minute)
		backoff := propagation.NewBackoff(100*time.Millisecond, 5*time.Second)
		for ctx.Err() == nil {
			err := f.consume(ctx, js, stream)
			if err == nil || errors.Is(err, ErrRestart) {
				backoff.Reset()
				continue
			}
			if errors.Is(err, cache.ErrNotDurable) {
				return err // memory is ahead of disk: only a restart is safe
			}
			if ctx.Err() != nil {
				break
			}
			retry.Warn("following the token stream; retrying", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff.Next()):
			}
		}
		return nil
	})
	return g.Wait()
}
