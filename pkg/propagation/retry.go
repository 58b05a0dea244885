package propagation

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff is a capped exponential backoff with full jitter.
type Backoff struct {
	base, limit, cur time.Duration
}

// NewBackoff returns a backoff starting at base, never above limit.
func NewBackoff(base, limit time.Duration) *Backoff { return &Backoff{base: base, limit: limit} }

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	b.cur = min(max(2*b.cur, b.base), b.limit)
	return b.cur/2 + rand.N(b.cur/2+1)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// RepeatLog logs a failure at once, then at most once per interval while
// it keeps failing, with how many times it failed in between.
type RepeatLog struct {
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	last   time.Time
	missed int
}

// NewRepeatLog returns a RepeatLog.
func NewRepeatLog(log *slog.Logger, interval time.Duration) *RepeatLog {
	return &RepeatLog{log: log, interval: interval}
}

// Warn logs msg and err, rate-limited.
func (r *RepeatLog) Warn(msg string, err error) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.missed++
		r.mu.Unlock()
		return
	}
	missed := r.missed
	r.last, r.missed = now, 0
	r.mu.Unlock()
	r.log.Warn(msg, "error", err, "failures_since_last_log", missed)
}

// Check logs err if not nil, and marks a success otherwise.
func (r *RepeatLog) Check(msg string, err error) {
	if err != nil {
		r.Warn(msg, err)
		return
	}
	r.mu.Lock()
	r.last, r.missed = time.Time{}, 0
	r.mu.Unlock()
}
