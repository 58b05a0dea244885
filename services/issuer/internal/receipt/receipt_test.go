package receipt

import (
	"context"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func report(id string, applied uint64, serving bool) *gatepassv1.ValidatorReport {
	return &gatepassv1.ValidatorReport{ValidatorId: id, AppliedSequence: applied, Serving: serving}
}

func TestWaitCompletesWhenAllLiveApplied(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := NewTracker(5*time.Second, clk.Now)
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
	tr := NewTracker(5*time.Second, clk.Now)
	tr.Report(report("a", 5, true))
	tr.Report(report("b", 4, true))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := tr.Wait(ctx, 5, clk.Now())
	if r.GetComplete() || r.GetValidatorsApplied() != 1 || r.GetValidatorsLive() != 2 {
		t.Fatalf("receipt = %v", r)
	}
}

func TestSilentValidatorIsNotLive(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := NewTracker(5*time.Second, clk.Now)
	tr.Report(report("gone", 1, true))
	clk.Add(6 * time.Second)
	tr.Report(report("here", 9, true))
	if got := tr.Live(); got != 1 {
		t.Fatalf("Live = %d, want 1", got)
	}
	r := tr.Wait(context.Background(), 9, clk.Now())
	if !r.GetComplete() || r.GetValidatorsLive() != 1 {
		t.Fatalf("receipt = %v", r)
	}
}

func TestUnpublishedIsNeverComplete(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1000, 0))
	tr := NewTracker(5*time.Second, clk.Now)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := tr.Wait(ctx, 0, clk.Now()); r.GetComplete() {
		t.Fatalf("unpublished change reported complete: %v", r)
	}
}
