package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is the least heap growth allowed between two collections.
const gcHeadroom = 64 << 20

// tuneGC keeps at least gcHeadroom between the live heap and the next
// collection, unless GOGC is set. A validator with few tokens has a small
// live heap, so Go's default (collect when the heap doubles) collects
// every few megabytes of garbage, many times a second under load, and
// that costs validation about a tenth of its rate. With a large cache the
// default already leaves that much room, and stays: memory is never more
// than twice the live heap, as by default, once it exceeds gcHeadroom.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	current := 100
	for {
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		want := 100
		if live > 0 && live < gcHeadroom {
			want = int(min(800, gcHeadroom*100/live))
		}
		if want != current {
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
