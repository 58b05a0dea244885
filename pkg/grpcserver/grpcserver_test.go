package grpcserver

import (
	"context"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/tlstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func serve(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.SetServing("", true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s
}

func healthCheck(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestTLS(t *testing.T) {
	t.Parallel()
	c := tlstest.New(t)
	cert, key := c.CertFile, c.KeyFile
	s := serve(t, Options{Addr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key})
	if err := healthCheck(t, s.Addr(), credentials.NewTLS(&tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS12})); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := healthCheck(t, s.Addr(), insecure.NewCredentials()); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client against a TLS server: %v", err)
	}
	if _, err := New(Options{Addr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: cert}); err == nil {
		t.Fatal("a certificate file accepted as the key")
	}
}

func TestAuthSkipsHealthButNotServices(t *testing.T) {
	t.Parallel()
	denied := func(ctx context.Context, _ string) (context.Context, error) {
		return nil, status.Error(codes.Unauthenticated, "no")
	}
	s := serve(t, Options{Addr: "127.0.0.1:0", Auth: denied})
	if err := healthCheck(t, s.Addr(), insecure.NewCredentials()); err != nil {
		t.Fatalf("health behind auth: %v", err)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"},
		func(context.Context, any) (any, error) { panic("boom") })
	if resp != nil || status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
		t.Fatalf("panic: %v %v", resp, err)
	}
	s.lis.Close()
}
