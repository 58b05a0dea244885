package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is the heap growth allowed between two collections while the
// live heap is small.
const gcHeadroom = 64 << 20

// gcPercent is the GOGC setting for a live heap of live bytes: room for
// gcHeadroom of garbage while the heap is small (up to 800, eight times the
// live heap), half the live heap once that is more than gcHeadroom twice
// over (50).
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	room := max(gcHeadroom, live/2)
	return int(max(50, min(800, room*100/live)))
}

// tuneGC sets GOGC from the live heap every second, unless GOGC is set.
// A validator with few tokens has a small live heap, so Go's default
// (collect when the heap doubles) collects after every few megabytes of
// garbage, many times a second under load, at a cost of about a tenth of
// its validation rate. One with millions has a large live heap (the
// index), and doubling it would double its memory; half is room enough
// for the garbage of replaying the stream.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	current := 100
	for {
		metrics.Read(sample)
		if want := gcPercent(sample[0].Value.Uint64()); want != current {
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
