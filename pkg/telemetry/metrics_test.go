package telemetry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestMetricsServed(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Provider().Meter("test").Int64Counter("gatepass_test_events")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.Serve(ctx) })
	defer func() { cancel(); wg.Wait() }()
	resp, err := http.Get("http://" + m.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		found = found || (strings.HasPrefix(line, "gatepass_test_events_total") && strings.HasSuffix(line, " 3"))
	}
	if !found {
		t.Fatalf("counter missing from /metrics:\n%s", body)
	}
}

// TestPprofOnlyWhenEnabled: profiles are served on the metrics listener
// only when asked for.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	for _, enable := range []bool{false, true} {
		m, err := NewMetrics("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if enable {
			m.EnablePprof()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Serve(ctx) }()
		resp, err := http.Get("http://" + m.Addr() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		<-done
		if got := resp.StatusCode == http.StatusOK; got != enable {
			t.Errorf("pprof enabled %v: status %d", enable, resp.StatusCode)
		}
	}
}
