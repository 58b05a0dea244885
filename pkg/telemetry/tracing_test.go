package telemetry

import (
	"context"
	"net"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// collector implements the real OTLP trace service and keeps what it gets.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	attrs []string
}

func (c *collector) Export(_ context.Context, r *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range r.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			c.attrs = append(c.attrs, a.GetKey()+"="+a.GetValue().GetStringValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestTracingExportsOTLP(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	tr, err := NewTracing(context.Background(), "gatepass-test", "http://"+lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "ValidateToken")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.names) != 1 || c.names[0] != "ValidateToken" {
		t.Fatalf("collector got spans %v", c.names)
	}
	found := false
	for _, a := range c.attrs {
		found = found || a == "service.name=gatepass-test"
	}
	if !found {
		t.Fatalf("no service name in %v", c.attrs)
	}
}

func TestTracingOffAndBadEndpoint(t *testing.T) {
	t.Parallel()
	tr, err := NewTracing(context.Background(), "x", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTracing(context.Background(), "x", "collector:4317"); err == nil {
		t.Fatal("endpoint without scheme accepted")
	}
}
