package sim

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"google.golang.org/protobuf/types/known/durationpb"
)

var (
	seeds    = flag.Int("seeds", 0, "run this many seeds (make sim) instead of the fixed set")
	firstArg = flag.Uint64("seed", 1, "first seed")
	traceArg = flag.Bool("trace", false, "print the event trace of failing seeds")
)

func runSeed(t testing.TB, seed uint64, faults bool, newTracker func(propagation.TrackerOptions, time.Time) receipts) Result {
	t.Helper()
	res, err := Run(Config{Seed: seed, Dir: t.TempDir(), Faults: faults, NewTracker: newTracker, Trace: *traceArg})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return res
}

func report(t testing.TB, res Result) {
	t.Helper()
	if len(res.Violations) == 0 {
		return
	}
	t.Errorf("%v\n  replay: go test ./services/validator/internal/sim -run TestSimSeeds -args -seeds 1 -seed %d -trace\n  %s",
		res, res.Seed, strings.Join(res.Violations, "\n  "))
	if len(res.Trace) > 0 {
		t.Logf("trace:\n%s", strings.Join(res.Trace, "\n"))
	}
}

// TestSimWithoutFaults: with nothing going wrong every change completes
// and every validator converges.
func TestSimWithoutFaults(t *testing.T) {
	t.Parallel()
	res := runSeed(t, 1, false, nil)
	report(t, res)
	if res.Receipts < res.Operations*9/10 {
		t.Fatalf("only %d of %d changes got a complete receipt without faults", res.Receipts, res.Operations)
	}
}

// TestSimSeeds runs the fixed seeds (make test), or -seeds N of them from
// -seed (make sim), and ends with the summary line.
func TestSimSeeds(t *testing.T) {
	n, first := 16, uint64(1)
	if testing.Short() && *seeds == 0 {
		n = 2 // -short: a taste; make test runs the 16 fixed seeds
	}
	if *seeds > 0 {
		n, first = *seeds, *firstArg
	}
	var ops, faults, violations, failing atomic.Int64
	work := make(chan uint64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for seed := range work {
				res := runSeed(t, seed, true, nil)
				ops.Add(int64(res.Operations))
				faults.Add(int64(res.Faults))
				violations.Add(int64(len(res.Violations)))
				if len(res.Violations) > 0 {
					failing.Add(1)
					report(t, res)
				}
			}
		})
	}
	for i := range n {
		work <- first + uint64(i)
	}
	close(work)
	wg.Wait()
	fmt.Printf("sim: %d seeds, %d faults, %d violations (%d operations; failing seeds: %d)\n", n, faults.Load(), violations.Load(), ops.Load(), failing.Load())
}

// TestSimReplaysExactly: a seed is a complete description of its run.
func TestSimReplaysExactly(t *testing.T) {
	t.Parallel()
	a, b := runSeed(t, 7, true, nil), runSeed(t, 7, true, nil)
	a.Trace, b.Trace = nil, nil
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("seed 7 ran differently twice:\n%v\n%v", a, b)
	}
}

// TestCheckerCatchesBrokenTracker shows the checker has teeth: the
// receipt tracker of the first version, which kept the highest sequence a
// validator ever reported whatever the stream instance, lets receipts
// complete while a cut-off validator still accepts the changed token.
func TestCheckerCatchesBrokenTracker(t *testing.T) {
	t.Parallel()
	broken := func(o propagation.TrackerOptions, now time.Time) receipts { return newMaxTracker(o) }
	for seed := uint64(1); seed <= 60; seed++ {
		if res := runSeed(t, seed, true, broken); len(res.Violations) > 0 {
			t.Logf("seed %d: %s", seed, res.Violations[0])
			return
		}
	}
	t.Fatal("no seed in 1..60 showed a violation with the broken tracker")
}

// maxTracker is the first version's tracker: per validator, the highest
// applied sequence ever reported, compared with any change's sequence
// whatever the stream instance.
type maxTracker struct {
	opts    propagation.TrackerOptions
	applied map[string]uint64
	bound   map[string]time.Duration
}

func newMaxTracker(o propagation.TrackerOptions) *maxTracker {
	return &maxTracker{opts: o, applied: map[string]uint64{}, bound: map[string]time.Duration{}}
}

func (m *maxTracker) Report(signer string, r *gatepassv1.ValidatorReport, _ time.Time) error {
	m.applied[signer] = max(m.applied[signer], r.GetAppliedSequence())
	m.bound[signer] = r.GetAnswerBound().AsDuration()
	return nil
}

func (m *maxTracker) Receipt(c propagation.Change, now time.Time) (*gatepassv1.PropagationReceipt, time.Duration) {
	r := &gatepassv1.PropagationReceipt{Sequence: c.Seq, Complete: c.Seq != 0, MaxLag: durationpb.New(0)}
	for _, k := range m.opts.Keys {
		bound := m.bound[k]
		if bound == 0 {
			bound = m.opts.MaxBound
		}
		switch {
		case m.applied[k] >= c.Seq:
			r.ValidatorsApplied++
		case now.Sub(c.Acked) >= bound:
			r.ValidatorsRefusing++
		default:
			r.Complete = false
		}
	}
	return r, 0
}
