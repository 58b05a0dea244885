package main

import (
	"math"
	"strings"
	"testing"
)

const page = `# HELP gatepass_issuer_commit_duration_seconds Time of one commit.
# TYPE gatepass_issuer_commit_duration_seconds histogram
gatepass_issuer_commit_duration_seconds_bucket{otel_scope_name="gatepass/issuer",le="0.001"} 10
gatepass_issuer_commit_duration_seconds_bucket{otel_scope_name="gatepass/issuer",le="0.002"} 90
gatepass_issuer_commit_duration_seconds_bucket{otel_scope_name="gatepass/issuer",le="0.004"} 100
gatepass_issuer_commit_duration_seconds_bucket{otel_scope_name="gatepass/issuer",le="+Inf"} 100
gatepass_issuer_commit_duration_seconds_sum{otel_scope_name="gatepass/issuer"} 0.15
gatepass_issuer_commit_duration_seconds_count{otel_scope_name="gatepass/issuer"} 100
gatepass_issuer_validators_live{otel_scope_name="gatepass/issuer"} 3
`

func TestStagesFromAScrape(t *testing.T) {
	got, err := parseHistograms(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	h := got["gatepass_issuer_commit_duration_seconds"]
	before := histogram{0.001: 10, 0.002: 10, 0.004: 10, math.Inf(1): 10, sumKey: 0.005}
	d := h.minus(before)
	// 90 observations since: none up to 1 ms, 80 up to 2 ms, 10 up to 4 ms.
	if p50 := d.quantile(0.5); math.Abs(p50-0.0015625) > 1e-9 {
		t.Errorf("p50 = %v", p50)
	}
	if p99 := d.quantile(0.99); p99 <= 0.002 || p99 > 0.004 {
		t.Errorf("p99 = %v", p99)
	}
	if m := d.mean(); math.Abs(m-0.145/90) > 1e-12 {
		t.Errorf("mean = %v", m)
	}
	if q := (histogram{}).quantile(0.5); !math.IsNaN(q) {
		t.Errorf("empty histogram: %v", q)
	}
	if _, ok := got["gatepass_issuer_validators_live"]; ok {
		t.Error("a gauge read as a histogram")
	}
}

func FuzzParseHistograms(f *testing.F) {
	f.Add(page)
	f.Add("x_bucket{le=\"1\"} \n")
	f.Add("x_sum")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseHistograms(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, h := range got {
			_ = h.quantile(0.99)
			_ = h.mean()
		}
	})
}
