package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// result is one measured run.
type result struct {
	Name     string
	Ops      int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	Max      time.Duration
	// FirstError is the first failure seen, if any.
	FirstError error
}

// Rate is operations per second.
func (r result) Rate() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

func (r result) String() string {
	s := fmt.Sprintf("%-34s %10.0f/s  p50 %8s  p99 %8s  max %8s  errors %d",
		r.Name, r.Rate(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Errors)
	if r.FirstError != nil {
		s += fmt.Sprintf(" (first: %v)", r.FirstError)
	}
	return s
}

// drive runs op from c workers for d (or until ops calls when ops > 0, or
// ctx ends), a closed loop: each worker starts its next call when the last
// returned. Latencies go into an HDR histogram (1 µs to 60 s, 3 digits).
func drive(ctx context.Context, name string, c int, d time.Duration, ops int64, op func(ctx context.Context, worker int, i int64) error) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu     sync.Mutex
		hist   = hdrhistogram.New(1, 60_000_000, 3)
		next   atomic.Int64
		errs   atomic.Int64
		first  atomic.Pointer[error]
		wg     sync.WaitGroup
		start  = time.Now()
		worker = func(w int) {
			defer wg.Done()
			local := hdrhistogram.New(1, 60_000_000, 3)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if ops > 0 && i >= ops {
					break
				}
				t := time.Now()
				if err := op(ctx, w, i); err != nil {
					if ctx.Err() != nil {
						break // cut off by the end of the run
					}
					errs.Add(1)
					first.CompareAndSwap(nil, &err)
					continue
				}
				_ = local.RecordValue(max(1, time.Since(t).Microseconds()))
			}
			mu.Lock()
			hist.Merge(local)
			mu.Unlock()
		}
	)
	for w := range c {
		wg.Add(1)
		go worker(w)
	}
	wg.Wait()
	r := result{
		Name: name, Ops: hist.TotalCount(), Errors: errs.Load(), Elapsed: time.Since(start),
		P50: us(hist.ValueAtQuantile(50)), P99: us(hist.ValueAtQuantile(99)), Max: us(hist.Max()),
	}
	if e := first.Load(); e != nil {
		r.FirstError = *e
	}
	return r
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
