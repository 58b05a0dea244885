package propagation

import (
	"context"
	"errors"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	t0        = time.Unix(1_000_000, 0)
	instance1 = time.Unix(500, 0)
	instance2 = time.Unix(900, 0)
)

func opts(keys ...string) TrackerOptions {
	return TrackerOptions{Keys: keys, Liveness: 2 * time.Second, MaxBound: 5 * time.Second, MaxSkew: time.Second}
}

// rep is a validator report as of now.
func rep(boot string, counter, applied uint64, inst time.Time, now time.Time) *gatepassv1.ValidatorReport {
	return &gatepassv1.ValidatorReport{
		ValidatorId: "v", AppliedSequence: applied, StreamCreated: timestamppb.New(inst), Serving: true,
		Time: timestamppb.New(now), AnswerBound: durationpb.New(3 * time.Second), BootId: boot, Counter: counter,
	}
}

func mustReport(t *testing.T, tr *Tracker, key string, r *gatepassv1.ValidatorReport, now time.Time) {
	t.Helper()
	if err := tr.Report(key, r, now); err != nil {
		t.Fatalf("report from %s: %v", key, err)
	}
}

func TestCompleteWhenEveryValidatorApplied(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A", "B"), t0)
	c := Change{Seq: 10, Instance: instance1, Acked: t0}
	mustReport(t, tr, "A", rep("a", 1, 10, instance1, t0), t0)
	if r, _ := tr.Receipt(c, t0); r.GetComplete() || r.GetValidatorsApplied() != 1 {
		t.Fatalf("one of two applied: %v", r)
	}
	mustReport(t, tr, "B", rep("b", 1, 12, instance1, t0), t0)
	if r, _ := tr.Receipt(c, t0); !r.GetComplete() || r.GetValidatorsApplied() != 2 || r.GetValidatorsLive() != 2 {
		t.Fatalf("both applied: %v", r)
	}
}

// TestPositionsArePerStreamInstance: after the stream is recreated its
// sequences start again at 1; a position reported in the old instance
// applies nothing in the new one (the first version counted it).
func TestPositionsArePerStreamInstance(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	mustReport(t, tr, "A", rep("a", 1, 200, instance1, t0), t0)
	c := Change{Seq: 51, Instance: instance2, Acked: t0}
	if r, _ := tr.Receipt(c, t0.Add(time.Second)); r.GetComplete() || r.GetValidatorsApplied() != 0 {
		t.Fatalf("a position in the old stream counted in the new one: %v", r)
	}
	mustReport(t, tr, "A", rep("a", 2, 51, instance2, t0.Add(time.Second)), t0.Add(time.Second))
	if r, _ := tr.Receipt(c, t0.Add(time.Second)); !r.GetComplete() {
		t.Fatalf("applied in the new stream: %v", r)
	}
}

// TestSilentValidatorRefusesOnlyAfterItsBoundSinceTheAck: a validator that
// has not applied a change counts as refusing once its answer bound has
// passed since JetStream acknowledged the change, never earlier.
func TestSilentValidatorRefusesOnlyAfterItsBoundSinceTheAck(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A", "B"), t0)
	mustReport(t, tr, "A", rep("a", 1, 5, instance1, t0), t0)
	acked := t0.Add(10 * time.Second) // committed at t0, published 10s later
	c := Change{Seq: 6, Instance: instance1, Acked: acked}
	mustReport(t, tr, "A", rep("a", 2, 6, instance1, acked), acked)
	// A reported a 3s bound; B never reported: the maximum, 5s, applies.
	r, wake := tr.Receipt(c, acked.Add(4*time.Second))
	if r.GetComplete() || wake != time.Second {
		t.Fatalf("4s after the ack with B silent: %v, wake in %v", r, wake)
	}
	if r, _ := tr.Receipt(c, acked.Add(5*time.Second)); !r.GetComplete() || r.GetValidatorsRefusing() != 1 {
		t.Fatalf("5s after the ack: %v", r)
	}
}

// TestReportsAreBoundToTheirKey: a report counts for the key that signed
// it, whatever validator_id it claims; an unknown key counts for nothing.
func TestReportsAreBoundToTheirKey(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A", "B"), t0)
	r := rep("b", 1, 10, instance1, t0)
	r.ValidatorId = "A"
	mustReport(t, tr, "B", r, t0)
	if r, _ := tr.Receipt(Change{Seq: 10, Instance: instance1, Acked: t0}, t0); r.GetValidatorsApplied() != 1 || r.GetComplete() {
		t.Fatalf("B's report spoke for A: %v", r)
	}
	if err := tr.Report("X", rep("x", 1, 10, instance1, t0), t0); !errors.Is(err, ErrUnknownValidator) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestReplayedAndStaleReportsAreRefused(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	mustReport(t, tr, "A", rep("a", 5, 10, instance1, t0), t0)
	now := t0.Add(100 * time.Millisecond)
	tests := []struct {
		name string
		r    *gatepassv1.ValidatorReport
		want error
	}{
		{"same report again", rep("a", 5, 10, instance1, t0), ErrReplayedReport},
		{"older counter", rep("a", 4, 9, instance1, t0), ErrReplayedReport},
		{"another boot, older", rep("z", 1, 10, instance1, t0.Add(-time.Millisecond)), ErrReplayedReport},
		{"dated far in the past", rep("a", 9, 10, instance1, now.Add(-10*time.Second)), ErrReportTime},
		{"dated in the future", rep("a", 9, 10, instance1, now.Add(2*time.Second)), ErrReportTime},
	}
	for _, tt := range tests {
		if err := tr.Report("A", tt.r, now); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	mustReport(t, tr, "A", rep("a", 6, 11, instance1, now), now)
}

// TestBoundAboveTheMaximumStillBlocks: a validator whose answer bound is
// missing or above the issuer's maximum answers all the same. The first
// version dropped its reports, so in development mode it was unknown and a
// change it had not applied completed at once (a gateway in front of it
// kept accepting a revoked token); with keys, it was taken to stop
// answering after the maximum. Its reports count, and its changes wait for
// it to apply them or for its own bound.
func TestBoundAboveTheMaximumStillBlocks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		keys  []string
		bound *durationpb.Duration
		gone  time.Duration // since the ack, when it counts as refusing
	}{
		{"development, above the maximum", nil, durationpb.New(time.Minute), time.Minute},
		{"development, none", nil, nil, 0},
		{"keyed, above the maximum", []string{"A"}, durationpb.New(time.Minute), time.Minute},
		{"keyed, zero", []string{"A"}, durationpb.New(0), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(opts(tt.keys...), t0.Add(-time.Hour))
			r := rep("a", 1, 10, instance1, t0)
			r.AnswerBound = tt.bound
			if err := tr.Report("A", r, t0); !errors.Is(err, ErrAnswerBound) {
				t.Fatalf("report: %v, want %v", err, ErrAnswerBound)
			}
			c := Change{Seq: 11, Instance: instance1, Acked: t0}
			for _, at := range []time.Duration{0, 6 * time.Second, 59 * time.Second} {
				if got, _ := tr.Receipt(c, t0.Add(at)); got.GetComplete() {
					t.Fatalf("complete %v after the ack, not applied: %v", at, got)
				}
			}
			if tt.gone > 0 {
				if got, _ := tr.Receipt(c, t0.Add(tt.gone)); !got.GetComplete() || got.GetValidatorsRefusing() != 1 {
					t.Fatalf("its own bound passed: %v", got)
				}
			}
			r = rep("a", 2, 11, instance1, t0.Add(time.Second))
			r.AnswerBound = tt.bound
			_ = tr.Report("A", r, t0.Add(time.Second))
			if got, _ := tr.Receipt(c, t0.Add(time.Second)); !got.GetComplete() || got.GetValidatorsApplied() != 1 {
				t.Fatalf("applied: %v", got)
			}
		})
	}
}

// TestBoundAboveTheMaximumOutlivesARestart: an issuer that restarts has
// heard from no validator; one it knew to answer for longer than the
// maximum must not be taken to stop after the maximum (the simulator found
// a receipt completing while such a validator, partitioned since the
// restart, still accepted the token).
func TestBoundAboveTheMaximumOutlivesARestart(t *testing.T) {
	t.Parallel()
	kept := map[string]time.Duration{}
	o := opts("A", "B")
	o.OnBound = func(key string, d time.Duration) {
		if d == 0 {
			delete(kept, key)
		} else {
			kept[key] = d
		}
	}
	tr := NewTracker(o, t0)
	r := rep("a", 1, 10, instance1, t0)
	r.AnswerBound = durationpb.New(time.Minute)
	if err := tr.Report("A", r, t0); !errors.Is(err, ErrAnswerBound) {
		t.Fatal(err)
	}
	mustReport(t, tr, "B", rep("b", 1, 10, instance1, t0), t0)
	if len(kept) != 1 || kept["A"] != time.Minute {
		t.Fatalf("kept bounds: %v", kept)
	}

	o.Bounds = kept
	restarted := NewTracker(o, t0)
	c := Change{Seq: 11, Instance: instance1, Acked: t0}
	if got, _ := restarted.Receipt(c, t0.Add(10*time.Second)); got.GetComplete() || got.GetValidatorsRefusing() != 1 {
		t.Fatalf("10s after the ack, A unheard since the restart: %v", got)
	}
	if got, _ := restarted.Receipt(c, t0.Add(time.Minute)); !got.GetComplete() || got.GetValidatorsRefusing() != 2 {
		t.Fatalf("A's own bound passed: %v", got)
	}
	// Reconfigured within the maximum: forgotten.
	mustReport(t, restarted, "A", rep("a", 2, 10, instance1, t0), t0)
	if len(kept) != 0 {
		t.Fatalf("kept bounds after a bound within the maximum: %v", kept)
	}
}

// TestSharedKeyCountsForNothing: two processes reporting with one key hide
// each other's position; the key's validator then never counts as applied.
func TestSharedKeyCountsForNothing(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	mustReport(t, tr, "A", rep("one", 1, 10, instance1, t0), t0)
	now := t0.Add(10 * time.Second) // a restart: fine
	mustReport(t, tr, "A", rep("two", 1, 10, instance1, now), now)
	now = now.Add(100 * time.Millisecond)
	if err := tr.Report("A", rep("one", 2, 10, instance1, now), now); !errors.Is(err, ErrSharedKey) {
		t.Fatalf("the first process again: %v", err)
	}
	if r, _ := tr.Receipt(Change{Seq: 10, Instance: instance1, Acked: now}, now); r.GetComplete() || r.GetValidatorsApplied() != 0 {
		t.Fatalf("a shared key counted as applied: %v", r)
	}
}

// TestDevelopmentModeIsBoundedAndBlindAfterReconnect: without keys the
// tracker learns validators from reports (at most MaxValidators), and after
// losing its connection completes nothing until it could have heard from
// every validator again.
func TestDevelopmentModeIsBoundedAndBlindAfterReconnect(t *testing.T) {
	t.Parallel()
	o := opts()
	o.MaxValidators = 2
	tr := NewTracker(o, t0)
	now := t0.Add(3 * time.Second)
	mustReport(t, tr, "", rep("a", 1, 10, instance1, now), now)
	r2 := rep("b", 1, 10, instance1, now)
	r2.ValidatorId = "other"
	mustReport(t, tr, "", r2, now)
	r3 := rep("c", 1, 10, instance1, now)
	r3.ValidatorId = "third"
	if err := tr.Report("", r3, now); !errors.Is(err, ErrTooManyValidators) {
		t.Fatalf("third validator: %v", err)
	}
	c := Change{Seq: 10, Instance: instance1, Acked: now}
	if r, _ := tr.Receipt(c, now); !r.GetComplete() {
		t.Fatalf("both applied: %v", r)
	}
	tr.Blind(now)
	if r, _ := tr.Receipt(c, now.Add(time.Second)); r.GetComplete() {
		t.Fatalf("completed within the liveness window after a reconnect: %v", r)
	}
	if r, _ := tr.Receipt(c, now.Add(2*time.Second)); !r.GetComplete() {
		t.Fatalf("after the window: %v", r)
	}
}

// TestKeyedTrackerIsNotBlindAfterAnOutage: with keys every validator is
// known, so after a long silence a change waits for each one's bound
// instead of completing with nobody live.
func TestKeyedTrackerIsNotBlindAfterAnOutage(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	mustReport(t, tr, "A", rep("a", 1, 10, instance1, t0), t0)
	later := t0.Add(time.Hour)
	c := Change{Seq: 11, Instance: instance1, Acked: later}
	if r, _ := tr.Receipt(c, later); r.GetComplete() {
		t.Fatalf("completed with the only validator silent: %v", r)
	}
}

func TestUnpublishedIsNeverComplete(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	mustReport(t, tr, "A", rep("a", 1, 10, instance1, t0), t0)
	if r, _ := tr.Receipt(Change{}, t0.Add(time.Hour)); r.GetComplete() {
		t.Fatalf("an unpublished change completed: %v", r)
	}
}

func TestWaitReturnsOnReport(t *testing.T) {
	t.Parallel()
	tr := NewTracker(opts("A"), t0)
	c := Change{Seq: 3, Instance: instance1, Acked: t0}
	done := make(chan *gatepassv1.PropagationReceipt)
	go func() { done <- tr.Wait(context.Background(), c, func() time.Time { return t0 }) }()
	mustReport(t, tr, "A", rep("a", 1, 3, instance1, t0), t0)
	select {
	case r := <-done:
		if !r.GetComplete() {
			t.Fatalf("receipt %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the report")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := tr.Wait(ctx, Change{Seq: 4, Instance: instance1, Acked: t0}, func() time.Time { return t0 }); r.GetComplete() {
		t.Fatalf("cancelled wait: %v", r)
	}
}
