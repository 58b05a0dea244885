package propagation

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

var (
	// ErrUnknownValidator is returned when a report is signed by a key that
	// is not a configured validator's.
	ErrUnknownValidator = errors.New("report is not signed by a configured validator key")
	// ErrReplayedReport is returned when a report is not newer than the
	// last one accepted from its validator.
	ErrReplayedReport = errors.New("replayed or out-of-order validator report")
	// ErrReportTime is returned when a report is dated further from the
	// issuer's clock than the liveness window plus the clock-skew bound.
	ErrReportTime = errors.New("validator report dated outside the accepted window")
	// ErrAnswerBound is returned when a report's answer bound is missing or
	// above the issuer's maximum; the report is recorded all the same.
	ErrAnswerBound = errors.New("validator answer bound missing or above the issuer's maximum: its changes wait until it applies them")
	// ErrSharedKey is returned when reports from two processes (boots)
	// signed with one key interleave: the key's validator counts as not
	// having applied anything until they stop.
	ErrSharedKey = errors.New("two validator processes share one key")
	// ErrTooManyValidators is returned in development mode when the tracker
	// already follows its maximum number of validators.
	ErrTooManyValidators = errors.New("too many validators")
)

// unbounded is the answer bound of a validator that reports none.
const unbounded = time.Duration(math.MaxInt64)

// Change is a published change a receipt is about.
type Change struct {
	// Seq is the stream sequence that covers the change: a validator that
	// applied it has applied the change.
	Seq uint64
	// Instance is the creation time of the stream Seq belongs to.
	Instance time.Time
	// Acked is the issuer's clock when JetStream acknowledged Seq.
	Acked time.Time
}

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	// Keys are the validators' public keys, one per validator. Empty is
	// development mode: any report counts, validators are learned from
	// their reports and forgotten after Liveness plus MaxBound of silence.
	Keys []string
	// Liveness: a validator that reported within it, serving, is live.
	Liveness time.Duration
	// MaxBound is the longest answer bound the issuer accepts; a validator
	// it has not heard from is assumed to have it.
	MaxBound time.Duration
	// MaxSkew bounds the difference between any validator's clock and the
	// issuer's.
	MaxSkew time.Duration
	// MaxValidators caps development mode's table (default 1024).
	MaxValidators int
	// Bounds are answer bounds above MaxBound that configured validators
	// reported before the issuer last started (kept through OnBound): one
	// not heard from since is assumed to have its own, so only a bound
	// never reported rests on assumption 4.
	Bounds map[string]time.Duration
	// OnBound, if set, is called (outside the tracker's lock) when a
	// configured validator's reported bound goes above MaxBound, changes
	// there, or comes back within it (bound 0), so the issuer can keep it.
	OnBound func(key string, bound time.Duration)
}

type validator struct {
	instance time.Time
	applied  uint64
	serving  bool
	bound    time.Duration
	lastSeen time.Time // issuer clock

	boot     string
	counter  uint64
	sent     time.Time // validator clock
	prevBoot string
	switched time.Time // issuer clock of the last boot change
	conflict time.Time // issuer clock when boots last interleaved
}

// Tracker keeps every validator's latest report and builds receipts.
// Its methods take the issuer's clock reading, so it does no I/O and reads
// no clock of its own.
type Tracker struct {
	opts  TrackerOptions
	keyed bool

	mu         sync.Mutex
	validators map[string]*validator
	blindSince time.Time
	changed    chan struct{} // closed and replaced on every accepted report
}

// NewTracker returns a tracker as of now.
func NewTracker(o TrackerOptions, now time.Time) *Tracker {
	if o.MaxValidators <= 0 {
		o.MaxValidators = 1024
	}
	o.Bounds = maps.Clone(o.Bounds)
	if o.Bounds == nil {
		o.Bounds = map[string]time.Duration{}
	}
	t := &Tracker{opts: o, keyed: len(o.Keys) > 0, validators: map[string]*validator{}, blindSince: now, changed: make(chan struct{})}
	for _, k := range o.Keys {
		t.validators[k] = nil
	}
	return t
}

// Blind tells the tracker it may have missed reports (the issuer lost its
// NATS connection). In development mode no change completes until one
// liveness window has passed again; with configured keys every validator
// is known anyway, so nothing changes.
func (t *Tracker) Blind(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blindSince = now
}

// Report records a validator report whose envelope was signed by signer
// (a public key; "" for an unsigned report in development mode).
func (t *Tracker) Report(signer string, r *gatepassv1.ValidatorReport, now time.Time) error {
	kept, keep, err := t.report(signer, r, now)
	if keep && t.opts.OnBound != nil {
		t.opts.OnBound(signer, kept)
	}
	return err
}

// Recorded reports whether Report took the report it returned err for: no
// error, or one it holds against the validator (ErrAnswerBound,
// ErrSharedKey) rather than a reason to drop the report.
func Recorded(err error) bool {
	return err == nil || errors.Is(err, ErrAnswerBound) || errors.Is(err, ErrSharedKey)
}

// report records r and says whether the bound kept for signer changed.
func (t *Tracker) report(signer string, r *gatepassv1.ValidatorReport, now time.Time) (kept time.Duration, keep bool, err error) {
	id := signer
	if !t.keyed && id == "" {
		id = "id:" + r.GetValidatorId()
	}
	// A bound above the maximum breaks the operator's promise (assumption
	// 4), not the validator's answers: the report still counts, and a
	// change waits for the validator to apply it or for its own bound
	// (none: forever), so a receipt never leans on the broken assumption.
	// ErrAnswerBound is returned once the report is recorded.
	bound := r.GetAnswerBound().AsDuration()
	if r.GetAnswerBound() == nil || bound <= 0 {
		bound, err = unbounded, ErrAnswerBound
	} else if bound > t.opts.MaxBound {
		err = ErrAnswerBound
	}
	sent := r.GetTime().AsTime()
	if d := now.Sub(sent); d > t.opts.Liveness+t.opts.MaxSkew || -d > t.opts.MaxSkew {
		return 0, false, ErrReportTime
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v, known := t.validators[id]
	switch {
	case t.keyed && !known:
		return 0, false, ErrUnknownValidator
	case !known && len(t.validators) >= t.opts.MaxValidators:
		return 0, false, ErrTooManyValidators
	case v == nil:
		v = &validator{}
		t.validators[id] = v
	}
	switch {
	case v.boot == "":
	case r.GetBootId() == v.boot:
		if r.GetCounter() <= v.counter {
			return 0, false, ErrReplayedReport
		}
	case !sent.After(v.sent):
		return 0, false, ErrReplayedReport
	default:
		// A new process behind the key. If the one before the last comes
		// back, or boots change faster than a process can restart, two
		// processes share the key.
		if r.GetBootId() == v.prevBoot || now.Sub(v.switched) < t.opts.Liveness {
			v.conflict = now
			err = errors.Join(err, ErrSharedKey)
		}
		v.prevBoot, v.switched = v.boot, now
	}
	v.boot, v.counter, v.sent = r.GetBootId(), r.GetCounter(), sent
	v.instance = r.GetStreamCreated().AsTime()
	v.applied = r.GetAppliedSequence()
	v.serving = r.GetServing()
	v.bound = bound
	v.lastSeen = now
	close(t.changed)
	t.changed = make(chan struct{})
	if t.keyed {
		kept = bound
		if bound <= t.opts.MaxBound {
			kept = 0
		}
		if keep = kept != t.opts.Bounds[id]; keep && kept == 0 {
			delete(t.opts.Bounds, id)
		} else if keep {
			t.opts.Bounds[id] = kept
		}
	}
	return kept, keep, err
}

// Live returns the number of validators that reported within the
// liveness window and were serving.
func (t *Tracker) Live(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.validators {
		if v != nil && v.serving && now.Sub(v.lastSeen) <= t.opts.Liveness {
			n++
		}
	}
	return n
}

// Receipt returns the receipt for c as of now, and how long until it could
// next change without a report (0: only a report can change it).
func (t *Tracker) Receipt(c Change, now time.Time) (*gatepassv1.PropagationReceipt, time.Duration) {
	r, wake := t.receipt(c, now, nil)
	return r, wake
}

func (t *Tracker) receipt(c Change, now time.Time, appliedAt map[string]time.Duration) (*gatepassv1.PropagationReceipt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &gatepassv1.PropagationReceipt{Sequence: c.Seq}
	var worst, wake time.Duration
	blocking := c.Seq == 0
	soonest := func(d time.Duration) {
		if d > 0 && (wake == 0 || d < wake) {
			wake = d
		}
	}
	since := now.Sub(c.Acked)
	ids := make([]string, 0, len(t.validators))
	for id := range t.validators {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v := t.validators[id]
		bound := max(t.opts.MaxBound, t.opts.Bounds[id])
		if v != nil {
			if !t.keyed && now.Sub(v.lastSeen)-t.opts.Liveness > max(t.opts.MaxBound, v.bound) {
				delete(t.validators, id) // development mode: gone for good
				continue
			}
			bound = v.bound
			if v.serving && now.Sub(v.lastSeen) <= t.opts.Liveness {
				r.ValidatorsLive++
			}
		}
		switch {
		case t.applied(v, c, now):
			r.ValidatorsApplied++
			lag := since
			if appliedAt != nil {
				if _, ok := appliedAt[id]; !ok {
					appliedAt[id] = since
				}
				lag = appliedAt[id]
			}
			worst = max(worst, lag)
		case c.Seq != 0 && since >= bound:
			// Whatever it last confirmed predates the change, and its answer
			// bound has passed since: it is not answering.
			r.ValidatorsRefusing++
		default:
			blocking = true
			worst = max(worst, since)
			if bound != unbounded {
				soonest(bound - since)
			}
		}
	}
	if !t.keyed {
		if blind := now.Sub(t.blindSince); blind < t.opts.Liveness {
			blocking = true
			soonest(t.opts.Liveness - blind)
		}
	}
	r.MaxLag = durationpb.New(max(worst, 0))
	r.Complete = !blocking
	return r, wake
}

// applied reports whether v has applied the change.
func (t *Tracker) applied(v *validator, c Change, now time.Time) bool {
	if v == nil || c.Seq == 0 {
		return false
	}
	if !v.conflict.IsZero() && now.Sub(v.conflict) < t.opts.Liveness+t.opts.MaxBound {
		return false
	}
	return v.instance.Equal(c.Instance) && v.applied >= c.Seq
}

// Wait blocks until the receipt for c is complete or ctx ends, and returns
// the receipt as of then. now is the issuer's clock.
func (t *Tracker) Wait(ctx context.Context, c Change, now func() time.Time) *gatepassv1.PropagationReceipt {
	appliedAt := map[string]time.Duration{}
	for {
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		r, wake := t.receipt(c, now(), appliedAt)
		if r.GetComplete() {
			return r
		}
		if wake <= 0 {
			wake = time.Hour
		}
		// Real time, capped, so tests on a fake clock keep moving too.
		tm := time.NewTimer(min(wake, 50*time.Millisecond))
		select {
		case <-changed:
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			r, _ = t.receipt(c, now(), appliedAt)
			return r
		}
		tm.Stop()
	}
}
