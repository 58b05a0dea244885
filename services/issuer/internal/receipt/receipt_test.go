package receipt

import (
	"context"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func report(id string, applied uint64, serving bool) *gatepassv1.ValidatorReport {
	return &gatepassv1.ValidatorReport{ValidatorId: id, AppliedSequence: applied, Serving: serving}
}

func TestWaitCompletesWhenAllLiveApplied(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := warmTracker(clk)
	tr.Report(report("a", 10, true))
	tr.Report(report("b", 10, true))
	tr.Report(report("catching-up", 1, false))
	published := clk.Now()
	done := make(chan *gatepassv1.PropagationReceipt)
	go func() { done <- tr.Wait(context.Background(), 11, published) }()
	clk.Add(40 * time.Millisecond)
	tr.Report(report("a", 11, true))
	clk.Add(60 * time.Millisecond)
	tr.Report(report("b", 12, true))
	select {
	case r := <-done:
		if !r.GetComplete() || r.GetValidatorsLive() != 2 || r.GetValidatorsApplied() != 2 {
			t.Fatalf("receipt = %v", r)
		}
		if got := r.GetMaxLag().AsDuration(); got != 100*time.Millisecond {
			t.Fatalf("max lag = %v, want 100ms", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after every validator applied")
	}
}

func TestWaitTimesOutWithPartialReceipt(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := warmTracker(clk)
	tr.Report(report("a", 5, true))
	tr.Report(report("b", 4, true))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := tr.Wait(ctx, 5, clk.Now())
	if r.GetComplete() || r.GetValidatorsApplied() != 1 || r.GetValidatorsLive() != 2 {
		t.Fatalf("receipt = %v", r)
	}
}

// TestSilentValidatorBlocksUntilItsBoundPasses: a validator that stops
// reporting may still be answering from its last confirmation; the change
// completes only once its answer bound has passed since publication.
func TestSilentValidatorBlocksUntilItsBoundPasses(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := warmTracker(clk)
	tr.Report(&gatepassv1.ValidatorReport{ValidatorId: "silent", AppliedSequence: 1, Serving: true, AnswerBound: durationpb.New(2 * time.Second)})
	tr.Report(report("here", 9, true))
	published := clk.Now()
	done := make(chan *gatepassv1.PropagationReceipt, 1)
	go func() { done <- tr.Wait(context.Background(), 9, published) }()
	select {
	case r := <-done:
		t.Fatalf("completed while the silent validator may still answer: %v", r)
	case <-time.After(200 * time.Millisecond):
	}
	clk.Add(2 * time.Second)
	select {
	case r := <-done:
		if !r.GetComplete() || r.GetValidatorsApplied() != 2-1 || r.GetValidatorsRefusing() != 1 {
			t.Fatalf("receipt = %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not complete once the bound passed")
	}
	// Long silent validators are forgotten.
	clk.Add(10 * time.Second)
	tr.Report(report("here", 10, true))
	if r := tr.Wait(context.Background(), 10, clk.Now()); !r.GetComplete() || r.GetValidatorsRefusing() != 0 || r.GetValidatorsLive() != 1 {
		t.Fatalf("forgotten validator still counted: %v", r)
	}
}

// TestNotServingAfterPublicationIsRefusing: a validator that says it is
// not serving after the change is refusing, and does not block.
func TestNotServingAfterPublicationIsRefusing(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := warmTracker(clk)
	tr.Report(report("stale", 3, true))
	published := clk.Now()
	clk.Add(time.Millisecond)
	tr.Report(report("stale", 3, false))
	r := tr.Wait(context.Background(), 4, published)
	if !r.GetComplete() || r.GetValidatorsRefusing() != 1 || r.GetValidatorsLive() != 0 {
		t.Fatalf("receipt = %v", r)
	}
}

func TestUnpublishedIsNeverComplete(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := warmTracker(clk)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := tr.Wait(ctx, 0, clk.Now()); r.GetComplete() {
		t.Fatalf("unpublished change reported complete: %v", r)
	}
}

// TestNoCompletionBeforeValidatorsCouldReport: right after start the issuer
// has not heard from every validator yet, so nothing completes before one
// liveness window.
func TestNoCompletionBeforeValidatorsCouldReport(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := NewTracker(5*time.Second, clk.Now)
	done := make(chan *gatepassv1.PropagationReceipt, 1)
	go func() { done <- tr.Wait(context.Background(), 1, clk.Now()) }()
	select {
	case r := <-done:
		t.Fatalf("completed with no validator heard from: %v", r)
	case <-time.After(200 * time.Millisecond):
	}
	clk.Add(5 * time.Second)
	select {
	case r := <-done:
		if !r.GetComplete() || r.GetValidatorsLive() != 0 {
			t.Fatalf("receipt = %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not complete after the liveness window")
	}
}

// warmTracker returns a tracker whose first liveness window has passed.
func warmTracker(clk *fakeclock.Clock) *Tracker {
	tr := NewTracker(5*time.Second, clk.Now)
	clk.Add(5 * time.Second)
	return tr
}
