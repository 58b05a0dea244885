package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeValidator implements the real ValidatorService with fixed answers.
type fakeValidator struct {
	gatepassv1.UnimplementedValidatorServiceServer
	mu    sync.Mutex
	calls int
	ips   []string
}

func (f *fakeValidator) ValidateToken(_ context.Context, r *gatepassv1.ValidateTokenRequest) (*gatepassv1.ValidateTokenResponse, error) {
	f.mu.Lock()
	f.calls++
	f.ips = append(f.ips, r.GetClientIp())
	f.mu.Unlock()
	switch {
	case r.GetToken() == "bad-request":
		return nil, status.Error(codes.InvalidArgument, "invalid token")
	case r.GetToken() != "good":
		return &gatepassv1.ValidateTokenResponse{Reason: gatepassv1.Reason_REASON_REVOKED, TokenId: "tok_r"}, nil
	case r.GetMinRole() > gatepassv1.Role_ROLE_TESTER:
		return &gatepassv1.ValidateTokenResponse{Reason: gatepassv1.Reason_REASON_INSUFFICIENT_ROLE, TokenId: "tok_g"}, nil
	}
	return &gatepassv1.ValidateTokenResponse{Active: true, Reason: gatepassv1.Reason_REASON_ACTIVE, TokenId: "tok_g",
		WorkspaceId: "ws_1", Role: gatepassv1.Role_ROLE_TESTER, OwnerId: "mem_1"}, nil
}

func serveGRPC(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	register(s)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t testing.TB) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func newClient(t testing.TB, addrs ...string) *Client {
	c, err := New(Options{Addrs: addrs, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFailoverToAnotherValidator(t *testing.T) {
	t.Parallel()
	fv := &fakeValidator{}
	live := serveGRPC(t, func(s *grpc.Server) { gatepassv1.RegisterValidatorServiceServer(s, fv) })
	c := newClient(t, deadAddr(t), live)
	for range 4 { // every rotation start, including the dead one
		resp, err := c.Validate(context.Background(), &gatepassv1.ValidateTokenRequest{Token: "good"})
		if err != nil || !resp.GetActive() {
			t.Fatalf("Validate = %v, %v", resp, err)
		}
	}
	if _, err := c.Validate(context.Background(), &gatepassv1.ValidateTokenRequest{Token: "bad-request"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("non-retryable error: %v", err)
	}
	fv.mu.Lock()
	calls := fv.calls
	fv.mu.Unlock()
	if calls != 5 {
		t.Fatalf("live validator called %d times, want 5 (no retry of InvalidArgument)", calls)
	}
	dead := newClient(t, deadAddr(t), deadAddr(t))
	if _, err := dead.Validate(context.Background(), &gatepassv1.ValidateTokenRequest{Token: "good"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("all validators down: %v", err)
	}
}

func TestInterceptor(t *testing.T) {
	t.Parallel()
	fv := &fakeValidator{}
	c := newClient(t, serveGRPC(t, func(s *grpc.Server) { gatepassv1.RegisterValidatorServiceServer(s, fv) }))
	var seen Principal
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen, _ = PrincipalFrom(ctx)
		return h(ctx, req)
	}
	require := func(_ context.Context, method string) Requirement {
		if method == "/grpc.health.v1.Health/Check" {
			return Requirement{MinRole: gatepassv1.Role_ROLE_TESTER}
		}
		return Requirement{MinRole: gatepassv1.Role_ROLE_ADMIN}
	}
	addr := serveGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) },
		grpc.ChainUnaryInterceptor(c.UnaryServerInterceptor(require), record))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	call := func(auth string) error {
		ctx := context.Background()
		if auth != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
		}
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := call("Bearer good"); err != nil {
		t.Fatal(err)
	}
	if seen.TokenID != "tok_g" || seen.Role != gatepassv1.Role_ROLE_TESTER {
		t.Fatalf("principal = %+v", seen)
	}
	for auth, want := range map[string]codes.Code{"": codes.Unauthenticated, "Bearer revoked": codes.Unauthenticated, "Basic good": codes.Unauthenticated} {
		if got := status.Code(call(auth)); got != want {
			t.Errorf("%q: %v, want %v", auth, got, want)
		}
	}
	fv.mu.Lock()
	ip := fv.ips[0]
	fv.mu.Unlock()
	if ip != "127.0.0.1" {
		t.Errorf("client IP sent to the validator = %q", ip)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	fv := &fakeValidator{}
	c := newClient(t, serveGRPC(t, func(s *grpc.Server) { gatepassv1.RegisterValidatorServiceServer(s, fv) }))
	h := c.Middleware(func(r *http.Request) Requirement {
		if r.URL.Path == "/admin" {
			return Requirement{MinRole: gatepassv1.Role_ROLE_ADMIN}
		}
		return Requirement{}
	}, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		_, _ = w.Write([]byte(p.TokenID))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	downSrv := httptest.NewServer(newClient(t, deadAddr(t)).Middleware(nil, nil, h))
	defer downSrv.Close()
	tests := []struct {
		base, path, auth string
		want             int
	}{
		{srv.URL, "/", "Bearer good", 200},
		{srv.URL, "/admin", "Bearer good", 403},
		{srv.URL, "/", "Bearer revoked", 401},
		{srv.URL, "/", "", 401},
		{downSrv.URL, "/", "Bearer good", 503},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, tt.base+tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %q: %d, want %d", tt.path, tt.auth, resp.StatusCode, tt.want)
		}
	}
}
