// Package clock is time as gatepass code takes it: a now function and a
// tick function, both injected, so a test that steps a fake clock
// (package fakeclock) also fires the tickers of the code under test
// instead of sleeping. Operational timeouts (graceful stop, NATS drain,
// retry backoff) stay in real time on purpose: they bound waits on the
// machine, not protocol time.
package clock

import "time"

// Tick returns a channel that receives the time every d, and the function
// that stops it. Like time.Ticker, a tick the receiver is not ready for is
// dropped.
type Tick func(d time.Duration) (c <-chan time.Time, stop func())

// RealTick is Tick on the machine's clock.
func RealTick(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// OrReal returns tick, or RealTick when tick is nil.
func OrReal(tick Tick) Tick {
	if tick == nil {
		return RealTick
	}
	return tick
}
