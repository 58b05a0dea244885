// Package receipt tracks which sequence each validator has applied, from
// the reports validators send over NATS, and builds propagation receipts.
//
// A change is complete when every validator the issuer knows of has either
// applied it or provably stopped answering: it reported NOT_SERVING after
// the change was published, or its answer bound (staleness plus any
// serve-stale allowance, sent with every report) has passed since then. A
// validator that has not applied the change cannot confirm it is current
// without applying it, so its answers stop within that bound. This is what
// lets RevokeToken promise that once it returns, no validator accepts the
// token.
//
// Validators silent for longer than the liveness window plus their answer
// bound are forgotten.
//
// # Caveats
//
// Right after the issuer starts it has heard from no validator yet; until
// one liveness window has passed it cannot know them all, so no change
// completes before then (it waits, within the propagation timeout).
package receipt

import (
	"context"
	"sync"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/durationpb"
)

// defaultBound is assumed for validators that do not report their bound.
const defaultBound = 5 * time.Second

type validator struct {
	applied  uint64
	serving  bool
	lastSeen time.Time
	bound    time.Duration
}

// Tracker holds the latest report of every validator.
type Tracker struct {
	liveness time.Duration
	now      func() time.Time
	started  time.Time

	mu         sync.Mutex
	validators map[string]*validator
	changed    chan struct{} // closed and replaced on every report
}

// NewTracker returns a tracker; validators silent for longer than liveness
// are not live.
func NewTracker(liveness time.Duration, now func() time.Time) *Tracker {
	return &Tracker{liveness: liveness, now: now, started: now(), validators: map[string]*validator{}, changed: make(chan struct{})}
}

// Report records a validator's report.
func (t *Tracker) Report(r *gatepassv1.ValidatorReport) {
	if r.GetValidatorId() == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.validators[r.GetValidatorId()]
	if v == nil {
		v = &validator{}
		t.validators[r.GetValidatorId()] = v
	}
	v.applied = max(v.applied, r.GetAppliedSequence())
	v.serving = r.GetServing()
	v.lastSeen = t.now()
	v.bound = defaultBound
	if b := r.GetAnswerBound(); b != nil && b.AsDuration() > 0 {
		v.bound = b.AsDuration()
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// Live returns the number of live validators.
func (t *Tracker) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	now := t.now()
	for _, v := range t.validators {
		if t.isLive(v, now) {
			n++
		}
	}
	return n
}

func (t *Tracker) isLive(v *validator, now time.Time) bool {
	return v.serving && now.Sub(v.lastSeen) <= t.liveness
}

// Wait blocks until the change at seq, published at published, is applied
// or refused by every known validator, or ctx ends, and returns the receipt
// as of then. seq 0 means the change was not published: nothing applies it
// and the receipt is never complete.
func (t *Tracker) Wait(ctx context.Context, seq uint64, published time.Time) *gatepassv1.PropagationReceipt {
	appliedAt := map[string]time.Duration{}
	for {
		r, blocking, next := t.receipt(seq, published, appliedAt)
		if r.GetComplete() {
			return r
		}
		var timer <-chan time.Time
		if blocking && next > 0 {
			// Wake when the earliest answer bound passes; real time, so a
			// coarse poll keeps tests on a fake clock moving too.
			timer = time.After(min(next, 50*time.Millisecond))
		}
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-timer:
		case <-ctx.Done():
			r, _, _ = t.receipt(seq, published, appliedAt)
			return r
		}
	}
}

// receipt computes the receipt now, whether a validator still blocks, and
// the time until the nearest blocking bound passes.
func (t *Tracker) receipt(seq uint64, published time.Time, appliedAt map[string]time.Duration) (*gatepassv1.PropagationReceipt, bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	r := &gatepassv1.PropagationReceipt{Sequence: seq}
	var worst, next time.Duration
	blocking := false
	for id, v := range t.validators {
		if now.Sub(v.lastSeen) > t.liveness+v.bound {
			delete(t.validators, id) // gone for good
			continue
		}
		live := t.isLive(v, now)
		if live {
			r.ValidatorsLive++
		}
		switch {
		case seq != 0 && v.applied >= seq:
			if _, ok := appliedAt[id]; !ok {
				appliedAt[id] = now.Sub(published)
			}
			if live {
				r.ValidatorsApplied++
				worst = max(worst, appliedAt[id])
			}
		case !v.serving && !v.lastSeen.Before(published), now.Sub(published) >= v.bound:
			r.ValidatorsRefusing++
		default:
			blocking = true
			if live {
				worst = max(worst, now.Sub(published))
			}
			if left := v.bound - now.Sub(published); next == 0 || left < next {
				next = left
			}
		}
	}
	if warm := now.Sub(t.started); warm < t.liveness {
		// Some validators may not have reported since the issuer started.
		blocking = true
		if left := t.liveness - warm; next == 0 || left < next {
			next = left
		}
	}
	r.MaxLag = durationpb.New(worst)
	r.Complete = seq != 0 && !blocking
	return r, blocking, next
}

// RegisterMetrics publishes the number of live validators.
func (t *Tracker) RegisterMetrics(m metric.Meter) error {
	_, err := m.Int64ObservableGauge("gatepass_issuer_validators_live",
		metric.WithDescription("Validators that reported within the liveness window and are serving."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(t.Live()))
			return nil
		}))
	return err
}
