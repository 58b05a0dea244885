// Package httpserve runs an http.Server on a bound listener until a
// context ends, then shuts it down gracefully within a deadline: the one
// way gatepass serves HTTP (metrics, gateway checks).
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds the graceful shutdown.
const ShutdownTimeout = 5 * time.Second

// Serve serves srv on lis until ctx ends. what names the server in errors.
func Serve(ctx context.Context, srv *http.Server, lis net.Listener, what string) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
