package client

import (
	"context"
	"net"
	"net/netip"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// RequireFunc says what a gRPC method needs; nil requires only a valid token.
type RequireFunc func(ctx context.Context, fullMethod string) Requirement

// UnaryServerInterceptor checks the caller of every unary call.
func (c *Client) UnaryServerInterceptor(require RequireFunc) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := c.authorize(ctx, info.FullMethod, require)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor checks the caller of every stream.
func (c *Client) StreamServerInterceptor(require RequireFunc) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := c.authorize(ss.Context(), info.FullMethod, require)
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

func (c *Client) authorize(ctx context.Context, method string, require RequireFunc) (context.Context, error) {
	var req Requirement
	if require != nil {
		req = require(ctx, method)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var auth string
	if v := md.Get("authorization"); len(v) == 1 {
		auth = v[0]
	}
	verdict, p := c.Check(ctx, auth, req, peerIP(ctx))
	switch verdict {
	case Allowed:
		return WithPrincipal(ctx, p), nil
	case Forbidden:
		return nil, status.Error(codes.PermissionDenied, "access token lacks the role or project for this call")
	case Unavailable:
		return nil, status.Error(codes.Unavailable, "cannot check the access token now")
	}
	return nil, status.Error(codes.Unauthenticated, "invalid or missing access token")
}

func peerIP(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return netip.Addr{}
	}
	if tcp, ok := p.Addr.(*net.TCPAddr); ok {
		a, _ := netip.AddrFromSlice(tcp.IP)
		return a.Unmap()
	}
	return netip.Addr{}
}
