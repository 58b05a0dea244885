package grpcserver

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
)

// Actor is background work that runs while a server serves: a follower, a
// publisher, a schedule, an HTTP listener. It returns when ctx ends; an
// error means the process can no longer do its job.
type Actor func(ctx context.Context) error

// ServeWith serves until ctx ends or an actor fails, with the actors
// running under an errgroup. Serving stops first, then the actors are
// cancelled and awaited: calls still in flight during the graceful stop
// can wait for what the actors do (a receipt needs the publisher). An
// actor's error stops serving and is returned, so the process exits
// non-zero and its orchestrator restarts it.
func (s *Server) ServeWith(ctx context.Context, actors ...Actor) error {
	bg, stopActors := context.WithCancel(context.WithoutCancel(ctx))
	defer stopActors()
	g, gctx := errgroup.WithContext(bg)
	for _, a := range actors {
		g.Go(func() error { return a(gctx) })
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		<-gctx.Done() // an actor failed, or the actors were stopped
		stopServing()
	}()
	err := s.Serve(serveCtx)
	stopActors()
	if gerr := g.Wait(); gerr != nil && !errors.Is(gerr, context.Canceled) {
		return gerr
	}
	return err
}
