package follow

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
)

// Msg is one message read from the token stream.
type Msg struct {
	Seq     uint64
	Subject string
	Data    []byte
}

// Resume checks the cache's position against the stream (as info says it
// was when asked, by this validator's clock, at asked) and returns the
// sequence to read from. A new cache adopts the stream; a stream that is
// not the one the cache followed, or that lost messages after the
// position, is replayed from the start over the cache. The stream head
// becomes the target the validator must reach before it is ready.
func (f *Follower) Resume(info propagation.StreamInfo, asked time.Time) (uint64, error) {
	if err := f.cache.Flush(); err != nil {
		return 0, err
	}
	pos, err := f.cache.Position()
	if err != nil {
		return 0, err
	}
	switch {
	case pos.StreamCreated.IsZero():
		if err := f.cache.Rewind(info.Created); err != nil {
			return 0, err
		}
		pos.Sequence, pos.Verified = 0, false
	case gap(pos, info):
		f.opts.Logger.Warn("token stream is not the one the cache followed; replaying it from the start",
			"applied", pos.Sequence, "stream_first", info.FirstSeq, "stream_last", info.LastSeq)
		if err := f.cache.Rewind(info.Created); err != nil {
			return 0, err
		}
		pos.Sequence = 0
		pos.Verified = pos.Verified && pos.StreamCreated.Equal(info.Created)
	case !pos.Verified && pos.Sequence > 0:
		// No checkpoint of this stream has matched the cache yet: read it
		// again from the start, so the latest checkpoint is compared (and a
		// stream that disagrees with it is found, and reported, again).
		if err := f.cache.Rewind(info.Created); err != nil {
			return 0, err
		}
		pos.Sequence = 0
	}
	f.mu.Lock()
	f.applied, f.instance, f.verified = pos.Sequence, info.Created, pos.Verified
	f.targets = nil
	f.mu.Unlock()
	select { // a resync asked for before now is done
	case <-f.resync:
	default:
	}
	f.addTarget(target{seq: info.LastSeq, since: asked})
	return pos.Sequence + 1, nil
}

// gap reports whether the stored position cannot be resumed in this stream:
// the stream was recreated, or messages after the position are gone.
func gap(pos cache.Position, info propagation.StreamInfo) bool {
	return !pos.StreamCreated.Equal(info.Created) ||
		pos.Sequence > info.LastSeq ||
		(info.Msgs > 0 && pos.Sequence+1 < info.FirstSeq)
}

// Apply verifies a batch of consecutive stream messages and applies them in
// one cache transaction. It returns ErrRestart when the cache had to be
// rebuilt: the caller starts over with Resume.
func (f *Follower) Apply(batch []Msg) error {
	return f.apply(f.open(batch))
}

// open checks the signatures of a batch and decodes it; what does not
// verify is dropped (counted and logged) and only advances the sequence.
func (f *Follower) open(batch []Msg) []cache.Item {
	items := make([]cache.Item, 0, len(batch))
	datas := make([][]byte, len(batch))
	for i, m := range batch {
		datas[i] = m.Data
	}
	evs, errs := f.verifier.OpenAll(datas)
	for i, m := range batch {
		it := cache.Item{Sequence: m.Seq}
		ev, err := evs[i], errs[i]
		switch {
		case err != nil:
			f.drop(m.Subject, m.Seq, err)
		case event.Subject(ev) != m.Subject:
			f.drop(m.Subject, m.Seq, errors.New("event does not belong on its subject"))
		default:
			it.LogIndex = ev.GetLogIndex()
			it.Token, it.Project, it.Checkpoint = ev.GetToken(), ev.GetProject(), ev.GetCheckpoint()
		}
		items = append(items, it)
	}
	return items
}

// apply applies opened items in one cache transaction.
func (f *Follower) apply(items []cache.Item) error {
	if len(items) == 0 {
		return nil
	}
	last := items[len(items)-1].Sequence
	reported := false
	res, err := f.cache.ApplyIndexed(items, func(res cache.Result) {
		// The index holds the batch: report it now, while it commits,
		// unless it disagreed with a checkpoint.
		if res.Mismatch == nil {
			f.advance(res, last)
			f.agreed(res)
			f.settle()
			f.report()
			reported = true
		}
	})
	if err != nil {
		return fmt.Errorf("apply events: %w", err)
	}
	if err := f.commitDue(len(items)); err != nil {
		return err
	}
	f.opts.Logger.Debug("applied events", "applied", res.Applied, "ignored", res.Ignored, "sequence", last)
	if reported {
		return nil
	}
	f.advance(res, last)
	if err := f.mismatch(res.Mismatch.GetLogIndex()); err != nil {
		return err
	}
	f.agreed(res)
	f.settle()
	f.report()
	return nil
}

// Batches applied are committed together: once commitItems are waiting,
// or commitDelay after the first of them (the consumer also commits when
// the stream goes quiet for that long). Fewer commits leave the disk's
// syncs to the token stream and the issuer; nothing waits on them, as
// reports go out once a batch is indexed.
const (
	commitItems = 4096
	commitDelay = 20 * time.Millisecond
)

// commitDue commits the staged batches when they are due.
func (f *Follower) commitDue(added int) error {
	now := f.opts.Now()
	if f.cache.Staged() == added {
		f.stagedSince = now // the first batch since the last commit
	}
	if f.cache.Staged() < commitItems && now.Sub(f.stagedSince) < commitDelay {
		return nil
	}
	return f.cache.Flush()
}

// advance records that the index holds the stream up to last.
func (f *Follower) advance(res cache.Result, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = last
	if res.InstanceVerified && !f.verified {
		f.verified = true
		f.opts.Logger.Info("token stream verified by an issuer checkpoint", "sequence", last)
	}
}

// agreed ends distrust once a checkpoint after the one disagreed with
// has matched.
func (f *Follower) agreed(res cache.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.distrusted && res.Verified > f.rebuiltFor {
		f.distrusted = false
		f.opts.Logger.Info("token stream agrees with the issuer's checkpoint again", "log_index", res.Verified)
	}
}

// report has a report sent at once.
func (f *Follower) report() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// mismatch handles a checkpoint the cache disagrees with: rebuild from the
// stream once; if the rebuilt cache disagrees with the same checkpoint, the
// stream itself does not hold the issuer's state (an old event replayed
// onto it), and the validator refuses to answer until a checkpoint
// matches again.
func (f *Follower) mismatch(logIndex uint64) error {
	f.mu.Lock()
	again := f.rebuiltFor == logIndex
	if again && !f.distrusted {
		f.distrusted = true
		f.opts.Logger.Error("the token stream disagrees with the issuer's checkpoint even after a rebuild; refusing to answer until it agrees", "log_index", logIndex)
	}
	f.mu.Unlock()
	if again {
		return nil
	}
	return f.rebuild(errors.New("cache disagrees with the issuer's checkpoint"), logIndex)
}

// rebuild wipes the cache and has consumption start over.
func (f *Follower) rebuild(cause error, logIndex uint64) error {
	f.rebuilt.Add(1)
	f.opts.Logger.Error("rebuilding the cache from the token stream", "cause", cause)
	f.mu.Lock()
	instance := f.instance
	f.rebuiltFor = logIndex
	f.applied = 0
	f.ready = false
	f.verified = false
	f.targets = nil
	f.mu.Unlock()
	if err := f.cache.Wipe(instance); err != nil {
		return fmt.Errorf("rebuild cache: %w", err)
	}
	return ErrRestart
}

func (f *Follower) drop(subject string, seq uint64, err error) {
	f.dropped.Add(1)
	f.warn.Warn("dropped event (unsigned, badly signed or malformed)", fmt.Errorf("%s at %d: %w", subject, seq, err))
}
