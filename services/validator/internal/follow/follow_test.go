package follow

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// streamCreated identifies the stream instance the tests' follower follows.
var streamCreated = time.Unix(500, 0)

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
	f := New(nil, nil, nil, v, Options{
		ID: "t", Staleness: 5 * time.Second, ServeStaleFor: serveStale, ReportInterval: time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
	})
	f.instance = streamCreated
	return f, signer
}

func heartbeat(t testing.TB, s *event.Signer, seq uint64, sent time.Time) *nats.Msg {
	t.Helper()
	data, err := s.Seal(&gatepassv1.Event{Id: "hb", Time: timestamppb.New(sent),
		Body: &gatepassv1.Event_Heartbeat{Heartbeat: &gatepassv1.Heartbeat{StreamLastSequence: seq, StreamCreated: timestamppb.New(streamCreated)}}})
	if err != nil {
		t.Fatal(err)
	}
	return &nats.Msg{Subject: event.HeartbeatSubject, Data: data}
}

func TestHeartbeatsConfirmOnlyWhenCaughtUp(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before any confirmation: %v", err)
	}
	f.applied.Store(10)

	// The stream is ahead of us: no confirmation until we apply up to it.
	f.onHeartbeat(heartbeat(t, signer, 12, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("behind the head: %v", err)
	}
	f.applied.Store(12)
	f.settle()
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
	f.onHeartbeat(heartbeat(t, signer, 12, clk.Now().Add(-6*time.Second)))
	seed, _ := event.GenerateSeed()
	other, _ := event.NewSigner(seed)
	f.onHeartbeat(heartbeat(t, other, 12, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrStale) {
		t.Fatalf("replayed or forged heartbeat confirmed: %v", err)
	}
	if f.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1 (the forged heartbeat)", f.Dropped())
	}
	f.onHeartbeat(heartbeat(t, signer, 12, clk.Now()))
	if err := f.Current(); err != nil {
		t.Fatalf("fresh heartbeat: %v", err)
	}
}

// TestHeartbeatOfAnotherStreamInstance: after the stream was recreated, its
// lower sequence numbers must not confirm a cache built from the old one.
func TestHeartbeatOfAnotherStreamInstance(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 0)
	f.applied.Store(50)
	f.instance = streamCreated.Add(-time.Hour) // we follow an older stream
	f.onHeartbeat(heartbeat(t, signer, 3, clk.Now()))
	if err := f.Current(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("a heartbeat of another stream confirmed the cache: %v", err)
	}
	select {
	case <-f.resync:
	default:
		t.Fatal("no resync asked for")
	}
}

func TestServeStaleIsBoundedAndCounted(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	f, signer := newFollower(t, clk, 10*time.Second)
	f.onHeartbeat(heartbeat(t, signer, 0, clk.Now()))
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
