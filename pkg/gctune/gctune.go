// Package gctune sets Go's GC target from the live heap, for processes
// whose live heap is small but whose allocation rate is high (the issuer,
// a validator with few tokens), and large ones whose memory matters (a
// validator with millions).
package gctune

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// headroom is the heap growth allowed between two collections while the
// live heap is small.
const headroom = 64 << 20

// Percent is the GOGC setting for a live heap of live bytes: room for
// headroom of garbage while the heap is small (up to 800, eight times the
// live heap), half the live heap once that is more than headroom twice
// over (50), and never less than floor.
func Percent(live uint64, floor int) int {
	if live == 0 {
		return max(floor, 100)
	}
	room := max(headroom, live/2)
	return max(floor, int(max(50, min(800, room*100/live))))
}

// Run sets GOGC from the live heap every second until ctx ends, unless
// GOGC is set. A small live heap (an issuer, whose data is in bbolt's
// memory map; a validator with few tokens) is collected, under Go's
// default (collect when the heap doubles), after every few megabytes of
// garbage, many times a second under load: a tenth of a validator's
// validation rate, and of the issuer's creates. A validator with millions
// of tokens has a large live heap (the index), and doubling it would
// double its memory; half is room enough for the garbage of replaying
// the stream. floor bounds the setting from below: collecting less often
// than Go's default (floor 100) keeps the cost of collecting a large heap
// where memory matters less than CPU (the issuer, whose embedded NATS
// server keeps state per subject).
func Run(ctx context.Context, floor int) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	current := 100
	for {
		metrics.Read(sample)
		if want := Percent(sample[0].Value.Uint64(), floor); want != current {
			debug.SetGCPercent(want)
			current = want
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
