// Package fakeclock is a settable clock for tests of code that takes an
// injected now function and tick function (package clock), so expiry,
// staleness and schedule tests step time instead of sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	tickers map[*ticker]bool
}

type ticker struct {
	every time.Duration
	next  time.Time
	c     chan time.Time
}

// New returns a clock set to t.
func New(t time.Time) *Clock { return &Clock{t: t, tickers: map[*ticker]bool{}} }

// Now returns the clock's time; pass it where code wants func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d, and fires every ticker whose next tick
// it passes (once, as a real ticker drops ticks nobody receives).
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	for tk := range c.tickers {
		if c.t.Before(tk.next) {
			continue
		}
		for !c.t.Before(tk.next) {
			tk.next = tk.next.Add(tk.every)
		}
		select {
		case tk.c <- c.t:
		default:
		}
	}
}

// Tick is a clock.Tick on this clock: its channel receives a tick each
// time Add passes another multiple of d since the ticker started.
func (c *Clock) Tick(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		panic("fakeclock: non-positive tick interval")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tk := &ticker{every: d, next: c.t.Add(d), c: make(chan time.Time, 1)}
	c.tickers[tk] = true
	return tk.c, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.tickers, tk)
	}
}

// Tickers returns the number of tickers running, so a test can wait until
// the code under test has started its own before stepping the clock.
func (c *Clock) Tickers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tickers)
}
