package sim

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// epoch is where every simulation's clock starts.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type task struct {
	at  time.Time
	seq uint64
	fn  func()
}

type queue []*task

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*task)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// world is the simulated time and the event queue.
type world struct {
	rng   *rand.Rand
	now   time.Time
	q     queue
	seq   uint64
	trace []string
	debug bool
}

func newWorld(seed uint64) *world {
	return &world{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: epoch}
}

// after runs fn d from now.
func (w *world) after(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, &task{at: w.now.Add(d), seq: w.seq, fn: fn})
}

// every runs fn every d (with up to 10% jitter) until fn returns false.
func (w *world) every(d time.Duration, fn func() bool) {
	var tick func()
	tick = func() {
		if fn() {
			w.after(w.jitter(d), tick)
		}
	}
	w.after(w.jitter(d), tick)
}

func (w *world) jitter(d time.Duration) time.Duration {
	return d - d/10 + w.dur(d/5)
}

// runUntil processes events up to t.
func (w *world) runUntil(t time.Time) {
	for len(w.q) > 0 && !w.q[0].at.After(t) {
		e := heap.Pop(&w.q).(*task)
		w.now = e.at
		e.fn()
	}
	w.now = t
}

// dur returns a random duration in [0, d).
func (w *world) dur(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(w.rng.Int64N(int64(d)))
}

// between returns a random duration in [lo, hi).
func (w *world) between(lo, hi time.Duration) time.Duration { return lo + w.dur(hi-lo) }

func (w *world) chance(p float64) bool { return w.rng.Float64() < p }

func (w *world) logf(format string, args ...any) {
	if w.debug {
		w.trace = append(w.trace, fmt.Sprintf("%8.3fs ", w.now.Sub(epoch).Seconds())+fmt.Sprintf(format, args...))
	}
}

// traceHandler writes a node's log records into the trace.
type traceHandler struct {
	w    *world
	node string
}

func (h traceHandler) Enabled(context.Context, slog.Level) bool { return h.w.debug }
func (h traceHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.w.logf("%s: %s%s", h.node, r.Message, b.String())
	return nil
}
func (h traceHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h traceHandler) WithGroup(string) slog.Handler      { return h }

func (w *world) logger(node string) *slog.Logger { return slog.New(traceHandler{w: w, node: node}) }
