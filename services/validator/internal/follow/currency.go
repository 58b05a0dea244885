package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/clock"

	"github.com/gatepass/gatepass/pkg/propagation"
)

// A validator is current while it has confirmed, within the staleness
// bound, that it had applied everything up to the stream head. A
// confirmation is a target reached: the head seen, and when it was seen,
// dated so that no message delay can make it look later than it was:
//   - a stream-info answer is dated by this validator's clock when it
//     asked, before the answer could have been produced;
//   - a heartbeat is dated by the issuer's clock when it read the head,
//     minus the clock-skew bound, and never later than its arrival. A
//     heartbeat dated more than the skew bound ahead of this clock proves
//     the bound broken and confirms nothing.
type target struct {
	seq   uint64
	since time.Time
}

type currency struct {
	ready       bool
	confirmedAt time.Time
	targets     []target
}

// maxTargets bounds the confirmations waiting for the cache to catch up.
const maxTargets = 1024

// Current returns nil when the validator may answer, ErrNotReady before
// the first catch-up, ErrStale when it cannot confirm it is current, and
// ErrDistrusted when the stream disagrees with the issuer's checkpoint.
func (f *Follower) Current() error { return f.current(true) }

// Serving reports whether the validator may answer, without counting it as
// an answer.
func (f *Follower) Serving() bool { return f.current(false) == nil }

func (f *Follower) current(countStale bool) error {
	f.mu.Lock()
	ready, confirmed, distrusted, verified := f.ready, f.confirmedAt, f.distrusted, f.verified
	f.mu.Unlock()
	switch {
	case !ready:
		return ErrNotReady
	case distrusted:
		return ErrDistrusted
	case !verified:
		return ErrUnverifiedStream
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

// ClockSkewed reports whether a heartbeat showed, within the last
// staleness bound, this clock and the issuer's further apart than the
// skew bound (for health details).
func (f *Follower) ClockSkewed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.skewSeen.IsZero() && f.opts.Now().Sub(f.skewSeen) <= f.opts.Staleness
}

// answerBound is how long after its last confirmation the validator may
// still answer.
func (f *Follower) answerBound() time.Duration { return f.opts.Staleness + f.opts.ServeStaleFor }

// addTarget records that the stream head was at t.seq at time t.since.
func (f *Follower) addTarget(t target) {
	f.mu.Lock()
	if len(f.targets) < maxTargets {
		f.targets = append(f.targets, t)
	}
	f.mu.Unlock()
	f.settle()
}

// settle turns targets the cache has reached into confirmations.
func (f *Follower) settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.targets[:0]
	for _, t := range f.targets {
		if t.seq > f.applied {
			kept = append(kept, t)
			continue
		}
		if t.since.After(f.confirmedAt) {
			f.confirmedAt = t.since
		}
		if !f.ready {
			f.ready = true
			f.opts.Logger.Info("caught up with the token stream", "sequence", f.applied)
		}
	}
	f.targets = kept
}

// Heartbeat handles a signed issuer heartbeat.
func (f *Follower) Heartbeat(data []byte) {
	now := f.opts.Now()
	ev, err := f.verifier.Open(data)
	if err != nil || ev.GetHeartbeat() == nil {
		f.dropped.Add(1)
		if err == nil {
			err = errors.New("not a heartbeat")
		}
		f.warn.Warn("dropped heartbeat", err)
		return
	}
	sent := ev.GetTime().AsTime()
	if sent.Sub(now) > f.opts.MaxClockSkew {
		f.skewed.Add(1)
		f.mu.Lock()
		f.skewSeen = now
		f.mu.Unlock()
		f.warnSkew.Warn("heartbeat dated ahead of this clock by more than the clock-skew bound; heartbeats confirm nothing until clocks agree",
			fmt.Errorf("%v ahead, bound %v", sent.Sub(now), f.opts.MaxClockSkew))
		return
	}
	if now.Sub(sent) > f.opts.Staleness {
		return // too old to confirm anything; a replay or a long delay
	}
	if f.otherInstance(ev.GetHeartbeat().GetStreamCreated().AsTime()) {
		return
	}
	since := sent.Add(-f.opts.MaxClockSkew)
	if now.Before(since) {
		since = now
	}
	f.addTarget(target{seq: ev.GetHeartbeat().GetStreamLastSequence(), since: since})
}

// Confirm handles a stream-info answer to a question asked at asked, by
// this validator's clock.
func (f *Follower) Confirm(info propagation.StreamInfo, asked time.Time) {
	if f.otherInstance(info.Created) {
		return
	}
	f.addTarget(target{seq: info.LastSeq, since: asked})
}

// NeedsConfirm reports whether the last confirmation is old enough that
// the validator should ask the stream for its head.
func (f *Follower) NeedsConfirm() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts.Now().Sub(f.confirmedAt) >= f.opts.Staleness/2
}

// otherInstance reports whether a stream creation time is not the one
// followed (or none is followed yet), and if it is another, asks the
// follower to start over.
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

// TakeResync reports (once) whether the follower asked to start over.
func (f *Follower) TakeResync() bool {
	select {
	case <-f.resync:
		return true
	default:
		return false
	}
}

// confirmLoop asks JetStream for the stream head whenever heartbeats have
// not confirmed currency recently, so validation survives an issuer outage.
func (f *Follower) confirmLoop(ctx context.Context, stream Stream) {
	ticks, stop := clock.OrReal(f.opts.Tick)(f.opts.Staleness / 4)
	defer stop()
	failures := propagation.NewRepeatLog(f.opts.Logger, time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		if !f.NeedsConfirm() {
			continue
		}
		asked := f.opts.Now()
		ictx, cancel := context.WithTimeout(ctx, f.opts.Staleness/4)
		info, err := stream.Info(ictx)
		cancel()
		if err != nil {
			failures.Warn("cannot confirm the token stream head", err)
			continue
		}
		f.Confirm(info, asked)
	}
}
