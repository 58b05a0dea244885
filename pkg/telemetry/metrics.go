package telemetry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gatepass/gatepass/pkg/httpserve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics is an OpenTelemetry meter provider whose readings are served in
// Prometheus text format at /metrics, when an address is configured.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	lis      net.Listener
	srv      *http.Server
	mux      *http.ServeMux
}

// NewMetrics builds the provider and, when addr is not empty, binds the
// /metrics listener (Serve starts it).
func NewMetrics(addr string) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	m := &Metrics{provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))}
	if addr == "" {
		return m, nil
	}
	m.lis, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	m.mux = http.NewServeMux()
	m.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.srv = &http.Server{Handler: m.mux, ReadHeaderTimeout: 5 * time.Second}
	return m, nil
}

// EnablePprof serves Go's profiles at /debug/pprof/ on the metrics
// listener, for profiling under load. Off unless asked for: profiles show
// code paths and timings, and the listener should stay private.
func (m *Metrics) EnablePprof() {
	if m.mux == nil {
		return
	}
	m.mux.HandleFunc("/debug/pprof/", pprof.Index)
	m.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Provider returns the meter provider to pass to instrumented code.
func (m *Metrics) Provider() metric.MeterProvider { return m.provider }

// Addr is the bound /metrics address, or "" when metrics are not served.
func (m *Metrics) Addr() string {
	if m.lis == nil {
		return ""
	}
	return m.lis.Addr().String()
}

// Serve serves /metrics until ctx ends (returns at once when not served).
func (m *Metrics) Serve(ctx context.Context) error {
	if m.srv == nil {
		return nil
	}
	return httpserve.Serve(ctx, m.srv, m.lis, "metrics")
}

// Shutdown flushes and stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }
