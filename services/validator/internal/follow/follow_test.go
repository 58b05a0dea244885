package follow

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// streamCreated identifies the stream instance the tests' follower follows.
var streamCreated = time.Unix(500, 0)

const skew = time.Second

func newFollower(t testing.TB, clk *fakeclock.Clock, serveStale time.Duration) (*Follower, *event.Signer) {
	t.Helper()
	seed, err := event.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := event.NewSigner(seed)
	v, err := event.NewVerifier(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := New(c, v, Options{
		ID: "t", Staleness: 5 * time.Second, ServeStaleFor: serveStale, MaxClockSkew: skew, ReportInterval: time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
	})
	f.instance = streamCreated
	f.verified = true // these tests are about currency, not checkpoints
	return f, signer
}

// setApplied pretends the cache reached seq.
func (f *Follower) setApplied(seq uint64) {
	f.mu.Lock()
	f.applied = seq
	f.mu.Unlock()
	f.settle()
}

func heartbeat(t testing.TB, s *event.Signer, seq uint64, sent time.Time) []byte {
	t.Helper()
	data, err := s.Seal(&gatepassv1.Event{Id: "hb", Time: timestamppb.New(sent),
		Body: &gatepassv1.Event_Heartbeat{Heartbeat: &gatepassv1.Heartbeat{StreamLastSequence: seq, StreamCreated: timestamppb.New(streamCreated)}}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestHeartbeatsConfirmOnlyWhenCaughtUp(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before any confirmation: %v", err)
	}
	f.setApplied(10)

	// The stream is ahead of us: no confirmation until we apply up to it.
	f.Heartbeat(heartbeat(t, signer, 12, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("behind the head: %v", err)
	}
	f.setApplied(12)
	if err := f.Current(); err != nil {
		t.Fatalf("caught up: %v", err)
	}

	// Past the staleness bound with no new confirmation: refuse.
	clk.Add(6 * time.Second)
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("after the bound: %v", err)
	}
	// An old heartbeat replayed now, or one signed by someone else, does not
	// confirm anything.
	f.Heartbeat(heartbeat(t, signer, 12, clk.Now().Add(-6*time.Second)))
	seed, _ := event.GenerateSeed()
	other, _ := event.NewSigner(seed)
	f.Heartbeat(heartbeat(t, other, 12, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("replayed or forged heartbeat confirmed: %v", err)
	}
	if f.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1 (the forged heartbeat)", f.Dropped())
	}
	f.Heartbeat(heartbeat(t, signer, 12, clk.Now()))
	if err := f.Current(); err != nil {
		t.Fatalf("fresh heartbeat: %v", err)
	}
}

// TestDelayedHeartbeatConfirmsWhenSent: a heartbeat that arrives late
// confirms the head as of when the issuer read it (minus the skew bound),
// not as of its arrival, so delay cannot stretch how long the validator
// answers. Dated at arrival, this validator would answer until 4s+5s after
// the head was read.
func TestDelayedHeartbeatConfirmsWhenSent(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	f.setApplied(12)
	read := clk.Now()
	clk.Add(4 * time.Second) // the heartbeat spent 4s in flight
	f.Heartbeat(heartbeat(t, signer, 12, read))
	if err := f.Current(); err != nil {
		t.Fatalf("fresh enough: %v", err)
	}
	clk.Add(5*time.Second - 4*time.Second - skew + time.Millisecond) // read + 5s - skew + 1ms
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("answering past the staleness bound of the moment the head was read: %v", err)
	}
}

// TestHeartbeatFromTheFutureConfirmsNothing: a heartbeat dated ahead of
// this clock by more than the skew bound shows the bound broken; it must
// not confirm (with the issuer's clock ahead, it would date confirmations
// later than they are).
func TestHeartbeatFromTheFutureConfirmsNothing(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	f.setApplied(12)
	f.Heartbeat(heartbeat(t, signer, 12, clk.Now().Add(3*time.Second)))
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("a heartbeat from 3s in the future confirmed: %v", err)
	}
	f.Heartbeat(heartbeat(t, signer, 12, clk.Now().Add(skew/2)))
	if err := f.Current(); err != nil {
		t.Fatalf("within the skew bound: %v", err)
	}
}

// TestConfirmIsDatedWhenAsked: a stream-info answer confirms the head as of
// the question, however late the answer comes.
func TestConfirmIsDatedWhenAsked(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, _ := newFollower(t, clk, 0)
	f.setApplied(12)
	asked := clk.Now()
	clk.Add(3 * time.Second)
	f.Confirm(propagation.StreamInfo{Created: streamCreated, LastSeq: 12}, asked)
	clk.Add(2*time.Second + time.Millisecond)
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("answering 5s after the question: %v", err)
	}
}

// TestHeartbeatOfAnotherStreamInstance: after the stream was recreated, its
// lower sequence numbers must not confirm a cache built from the old one.
func TestHeartbeatOfAnotherStreamInstance(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	f.setApplied(50)
	f.instance = streamCreated.Add(-time.Hour) // we follow an older stream
	f.Heartbeat(heartbeat(t, signer, 3, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("a heartbeat of another stream confirmed the cache: %v", err)
	}
	if !f.TakeResync() {
		t.Fatal("no resync asked for")
	}
}

func TestServeStaleIsBoundedAndCounted(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 10*time.Second)
	f.Heartbeat(heartbeat(t, signer, 0, clk.Now().Add(skew)))
	clk.Add(7 * time.Second)
	if err := f.Current(); err != nil || f.StaleAnswers() != 1 {
		t.Fatalf("within serve-stale window: %v, stale answers %d", err, f.StaleAnswers())
	}
	if !f.Serving() || f.StaleAnswers() != 1 {
		t.Fatal("Serving must not count as an answer")
	}
	clk.Add(9 * time.Second)
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("past staleness plus serve-stale: %v", err)
	}
}

// TestReportsNameTheirInstanceAndAreUnique: every report says which stream
// instance its sequence belongs to, and carries a growing counter.
func TestReportsNameTheirInstanceAndAreUnique(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, _ := newFollower(t, clk, 0)
	f.setApplied(7)
	var last uint64
	for range 3 {
		data, err := f.Report()
		if err != nil {
			t.Fatal(err)
		}
		var env gatepassv1.Envelope
		var r gatepassv1.ValidatorReport
		if proto.Unmarshal(data, &env) != nil || proto.Unmarshal(env.GetPayload(), &r) != nil {
			t.Fatal("report does not decode")
		}
		if !r.GetStreamCreated().AsTime().Equal(streamCreated) || r.GetAppliedSequence() != 7 {
			t.Fatalf("report = %v", &r)
		}
		if r.GetCounter() <= last || r.GetBootId() == "" {
			t.Fatalf("counter %d after %d, boot %q", r.GetCounter(), last, r.GetBootId())
		}
		last = r.GetCounter()
	}
}
