package propagation

import (
	"context"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
)

// TestHeartbeatsFollowTheClock: Run sends a heartbeat when the injected
// clock passes the interval, an hour here, which no test could wait for on
// the machine's clock.
func TestHeartbeatsFollowTheClock(t *testing.T) {
	t.Parallel()
	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	clk := fakeclock.New(t0)
	b := &memBus{}
	p, err := NewPublisher(&memOutbox{}, &memStream{clk: clk}, b, signer,
		PublisherOptions{Heartbeat: time.Hour, Now: clk.Now, Tick: clk.Tick})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return clk.Tickers() == 2 }) // heartbeat and prune
	before := b.msgs.Load()
	for i := 1; i <= 3; i++ {
		clk.Add(time.Hour)
		waitFor(t, func() bool { return b.msgs.Load() >= before+int64(i) })
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
