// Package grpcserver is the one way gatepass builds a gRPC server: an
// OpenTelemetry stats handler, then one interceptor doing logging →
// authentication → request validation → panic recovery, plus
// grpc.health.v1 and (optionally) server reflection.
//
// A server on the hot path (HotPath: the validator) gets the stats handler
// only while tracing is on: its per-call span and metrics with attribute
// sets cost more than the answer itself, and the service counts its
// answers by reason instead.
//
// New binds the listener, so ":0" works and Addr is known before Serve.
// Serve blocks until its context ends, then marks every service NOT_SERVING
// and stops gracefully within a deadline.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// AuthFunc authenticates a call and returns a context carrying the caller.
// It returns a status error (Unauthenticated, PermissionDenied) to refuse.
type AuthFunc func(ctx context.Context, fullMethod string) (context.Context, error)

// ValidateFunc checks a request message and returns an InvalidArgument
// status naming the field at fault.
type ValidateFunc func(req any) error

// Options configure a server.
type Options struct {
	// Addr to listen on, e.g. "127.0.0.1:0".
	Addr string
	// Logger for request logs; nil discards.
	Logger *slog.Logger
	// Auth runs for every method except health and reflection; nil allows all.
	Auth AuthFunc
	// Validate runs on every unary request after Auth; nil skips.
	Validate ValidateFunc
	// Reflection registers grpc.reflection when true.
	Reflection bool
	// StopTimeout bounds graceful stop; 0 means 10s.
	StopTimeout time.Duration
	// TLSCertFile and TLSKeyFile switch the server to TLS when both are set.
	TLSCertFile, TLSKeyFile string
	// Meter receives the RPC metrics; nil uses the global provider.
	Meter metric.MeterProvider
	// Tracer and Propagator receive RPC spans; nil uses the global ones.
	Tracer     trace.TracerProvider
	Propagator propagation.TextMapPropagator
	// HotPath leaves out the OpenTelemetry stats handler unless Tracing.
	HotPath, Tracing bool
	// ServerOptions are appended.
	ServerOptions []grpc.ServerOption
}

// Server is a bound gRPC server.
type Server struct {
	auth     AuthFunc
	validate ValidateFunc
	lis      net.Listener
	srv      *grpc.Server
	health   *health.Server
	log      *slog.Logger
	stop     time.Duration
}

// New binds the listener and builds the server. Register services on
// GRPC() before calling Serve.
func New(o Options) (*Server, error) {
	lis, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{lis: lis, log: log, health: health.NewServer(), stop: o.StopTimeout}
	if s.stop == 0 {
		s.stop = 10 * time.Second
	}
	s.auth, s.validate = o.Auth, o.Validate
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(
			s.logStream,
			authStream(o.Auth),
			s.recoverStream,
		),
		grpc.MaxRecvMsgSize(1 << 20),
	}
	if !o.HotPath || o.Tracing {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts(o)...)))
	}
	if o.HotPath {
		// Calls run on a pool of long-lived goroutines instead of one new
		// goroutine each, whose stack would grow again on every call.
		opts = append(opts, grpc.NumStreamWorkers(uint32(64*runtime.GOMAXPROCS(0))))
	}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		creds, err := credentials.NewServerTLSFromFile(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			lis.Close()
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	opts = append(opts, o.ServerOptions...)
	s.srv = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s.srv, s.health)
	if o.Reflection {
		reflection.Register(s.srv)
	}
	return s, nil
}

func otelOpts(o Options) []otelgrpc.Option {
	var opts []otelgrpc.Option
	if o.Meter != nil {
		opts = append(opts, otelgrpc.WithMeterProvider(o.Meter))
	}
	if o.Tracer != nil {
		opts = append(opts, otelgrpc.WithTracerProvider(o.Tracer))
	}
	if o.Propagator != nil {
		opts = append(opts, otelgrpc.WithPropagators(o.Propagator))
	}
	return opts
}

// GRPC returns the server for registering services.
func (s *Server) GRPC() *grpc.Server { return s.srv }

// Addr returns the bound address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// SetServing sets the health status of service ("" is the whole server).
func (s *Server) SetServing(service string, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(service, st)
}

// Serve serves until ctx ends, then stops gracefully within StopTimeout.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve gRPC: %w", err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.stop):
		s.srv.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve gRPC: %w", err)
	}
	return nil
}

// exempt lists the methods that need no authentication.
func exempt(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func authStream(auth AuthFunc) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if auth == nil || exempt(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := auth(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, wrappedStream{ServerStream: ss, ctx: ctx})
	}
}

// unary is the one unary interceptor: log the call; authenticate and
// validate it (except health and reflection); recover a panic in the
// handler. One function rather than a chain of four: a chain builds
// closures on every call, and this runs on every validation.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() { s.logCall(ctx, info.FullMethod, start, err) }()
	if !exempt(info.FullMethod) {
		if s.auth != nil {
			authed, err := s.auth(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			ctx = authed
		}
		if s.validate != nil {
			if err := s.validate(req); err != nil {
				return nil, err
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in stream handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(srv, ss)
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	if code != codes.OK {
		level = slog.LevelInfo
	}
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"method", method, "code", code.String(), "duration", time.Since(start)}
	if p, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, "peer", p.Addr.String())
	}
	if err != nil {
		// Status messages are written for callers and carry no secrets.
		attrs = append(attrs, "error", status.Convert(err).Message())
	}
	s.log.Log(ctx, level, "rpc", attrs...)
}
