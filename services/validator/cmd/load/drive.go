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

// add sums two runs of the same operation: counts and time add up; the
// percentiles kept are the worse of the two (an upper bound).
func (r result) add(o result) result {
	r.Name = o.Name
	r.Ops += o.Ops
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.P50, r.P99, r.Max = max(r.P50, o.P50), max(r.P99, o.P99), max(r.Max, o.Max)
	if r.FirstError == nil {
		r.FirstError = o.FirstError
	}
	return r
}

// drive runs op from c workers for d (or until ops calls when ops > 0, or
// ctx ends), a closed loop: each worker starts its next call when the last
// returned. Latencies go into an HDR histogram (1 µs to 60 s, 3 digits).
//
// The run's end stops workers from starting calls; it does not cut calls
// short (a call has 30 s), so no call fails for being near the end.
func drive(ctx context.Context, name string, c int, d time.Duration, ops int64, op func(ctx context.Context, worker int, i int64) error) result {
	callCtx := ctx
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
				cctx, ccancel := context.WithTimeout(callCtx, 30*time.Second)
				err := op(cctx, w, i)
				ccancel()
				if err != nil {
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
