package grpcserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestServeWithEndsOnAFailedActor: an actor that fails for good stops the
// server and its error is returned, so the process exits non-zero.
func TestServeWithEndsOnAFailedActor(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("follower died")
	stopped := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.ServeWith(ctx,
		func(context.Context) error { return boom },
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("ServeWith = %v, want the actor's error", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other actors were not stopped")
	}
	if ctx.Err() != nil {
		t.Fatal("ServeWith returned only when the test's deadline passed")
	}
}

// TestServeWithStopsActorsAfterServing: on cancel, serving stops first,
// then the actors, and a clean stop is no error.
func TestServeWithStopsActorsAfterServing(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	actorDone := make(chan struct{})
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err = s.ServeWith(ctx, func(ctx context.Context) error {
		<-ctx.Done()
		close(actorDone)
		return ctx.Err()
	})
	if err != nil {
		t.Fatalf("ServeWith = %v", err)
	}
	<-actorDone
}
