// Package receipt tracks which sequence each validator has applied, from
// the reports validators send over NATS, and builds propagation receipts:
// how many live validators applied a change and the worst lag.
//
// A validator is live while it reports within the liveness window and says
// it is serving. A validator that is not serving refuses every validation,
// so it cannot answer with stale state and need not be waited for.
package receipt

import (
	"context"
	"sync"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/types/known/durationpb"
)

type validator struct {
	applied  uint64
	serving  bool
	lastSeen time.Time
}

// Tracker holds the latest report of every validator.
type Tracker struct {
	liveness time.Duration
	now      func() time.Time

	mu         sync.Mutex
	validators map[string]*validator
	changed    chan struct{} // closed and replaced on every report
}

// NewTracker returns a tracker; validators silent for longer than liveness
// are not live.
func NewTracker(liveness time.Duration, now func() time.Time) *Tracker {
	return &Tracker{liveness: liveness, now: now, validators: map[string]*validator{}, changed: make(chan struct{})}
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

// Wait blocks until every live validator has applied seq, or ctx ends, and
// returns the receipt as of then. seq 0 means the change was not published;
// the receipt then reports the live validators and nothing applied.
func (t *Tracker) Wait(ctx context.Context, seq uint64, published time.Time) *gatepassv1.PropagationReceipt {
	appliedAt := map[string]time.Duration{}
	for {
		t.mu.Lock()
		now := t.now()
		r := &gatepassv1.PropagationReceipt{Sequence: seq}
		var worst time.Duration
		for id, v := range t.validators {
			if !t.isLive(v, now) {
				continue
			}
			r.ValidatorsLive++
			if seq != 0 && v.applied >= seq {
				r.ValidatorsApplied++
				if _, ok := appliedAt[id]; !ok {
					appliedAt[id] = now.Sub(published)
				}
				worst = max(worst, appliedAt[id])
			} else {
				worst = max(worst, now.Sub(published))
			}
		}
		changed := t.changed
		t.mu.Unlock()
		r.MaxLag = durationpb.New(worst)
		r.Complete = seq != 0 && r.ValidatorsApplied == r.ValidatorsLive
		if r.Complete {
			return r
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return r
		}
	}
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
