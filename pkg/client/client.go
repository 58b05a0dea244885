// Package client lets Go services check their callers' gatepass tokens
// through validators: a Client with sensible dial options, per-attempt
// deadlines and failover across validator addresses; gRPC server
// interceptors and net/http middleware that validate the caller, put the
// Principal in the context, and answer Unauthenticated/401 or
// PermissionDenied/403.
//
// Nothing is cached: every request is checked, so a revoke takes effect
// for the very next call.
//
// # Caveats
//
// Without DialOptions the connection is plaintext, for validators on
// loopback or a private network; pass transport credentials otherwise.
// Keep validator addresses out of reach of untrusted clients.
package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Options configure a Client.
type Options struct {
	// Addrs of validators (host:port); at least one.
	Addrs []string
	// DialOptions replace the default plaintext transport.
	DialOptions []grpc.DialOption
	// Timeout bounds each attempt; 0 means 1s.
	Timeout time.Duration
}

// Client asks validators whether a token may act.
type Client struct {
	conns   []*grpc.ClientConn
	vals    []gatepassv1.ValidatorServiceClient
	timeout time.Duration
	next    atomic.Uint32
}

// New connects (lazily) to every address.
func New(o Options) (*Client, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("gatepass client: no validator address")
	}
	opts := o.DialOptions
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	c := &Client{timeout: o.Timeout}
	if c.timeout == 0 {
		c.timeout = time.Second
	}
	for _, a := range o.Addrs {
		conn, err := grpc.NewClient(a, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("gatepass client: %s: %w", a, err)
		}
		c.conns = append(c.conns, conn)
		c.vals = append(c.vals, gatepassv1.NewValidatorServiceClient(conn))
	}
	return c, nil
}

// Close closes every connection.
func (c *Client) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// Validate asks the validators in turn, starting with the next in
// rotation, and moves on when one is unavailable or too slow. An inactive
// token is a normal answer, not an error.
func (c *Client) Validate(ctx context.Context, req *gatepassv1.ValidateTokenRequest) (*gatepassv1.ValidateTokenResponse, error) {
	start := int(c.next.Add(1))
	var last error
	for i := range c.vals {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		resp, err := c.vals[(start+i)%len(c.vals)].ValidateToken(actx, req)
		cancel()
		if err == nil {
			return resp, nil
		}
		last = err
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("gatepass: no validator answered: %w", last)
}
