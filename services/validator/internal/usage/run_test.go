package usage

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestRunReportsOnTheClocksTicks: usage reports go out as the injected
// clock passes the interval (an hour: no test could wait for it), and what
// is left is sent when Run stops.
func TestRunReportsOnTheClocksTicks(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	r := NewRecorder(clk.Now)
	r.Tick = clk.Tick
	sent := make(chan *gatepassv1.UsageReport, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx, "v1", time.Hour, func(rep *gatepassv1.UsageReport) error { sent <- rep; return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Tickers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run started no ticker")
		}
		time.Sleep(time.Millisecond)
	}
	r.Record("tok_a", gatepassv1.Reason_REASON_ACTIVE, netip.MustParseAddr("10.0.0.1"), 0)
	clk.Add(time.Hour)
	select {
	case rep := <-sent:
		if len(rep.GetTokens()) != 1 || rep.GetTokens()[0].GetTokenId() != "tok_a" {
			t.Fatalf("report %v", rep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report after the clock passed the interval")
	}
	r.Record("tok_b", gatepassv1.Reason_REASON_ACTIVE, netip.MustParseAddr("10.0.0.2"), 0)
	cancel()
	<-done
	if rep := <-sent; rep.GetTokens()[0].GetTokenId() != "tok_b" {
		t.Fatalf("final report %v", rep)
	}
}
