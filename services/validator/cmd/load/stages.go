package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// histogram is one Prometheus histogram as scraped: the cumulative count
// at each upper bound, +Inf included.
type histogram map[float64]float64

// scrape reads every histogram from a /metrics page, by name (without
// the _bucket suffix).
func scrape(addr string) (map[string]histogram, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseHistograms(resp.Body)
}

// parseHistograms reads the bucket and sum lines of the Prometheus text
// format (name_bucket{…,le="0.001"} 42, name_sum{…} 0.5); everything else
// is skipped.
func parseHistograms(r io.Reader) (map[string]histogram, error) {
	out := map[string]histogram{}
	add := func(name string, key, n float64) {
		if out[name] == nil {
			out[name] = histogram{}
		}
		out[name][key] += n
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if name, n, ok := total(line); ok {
			add(name, sumKey, n)
			continue
		}
		name, rest, ok := strings.Cut(line, "_bucket{")
		if !ok {
			continue
		}
		_, le, ok := strings.Cut(rest, `le="`)
		if !ok {
			continue
		}
		le, tail, ok := strings.Cut(le, `"`)
		_, value, ok2 := strings.Cut(tail, "} ")
		if !ok || !ok2 {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err = math.Inf(1), nil
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics line %q", line)
		}
		n, err2 := strconv.ParseFloat(f[0], 64)
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("metrics line %q", line)
		}
		add(name, bound, n)
	}
	return out, sc.Err()
}

// sumKey holds a histogram's sum of observations, next to its buckets.
var sumKey = math.Inf(-1)

// total parses a histogram's name_sum line.
func total(line string) (string, float64, bool) {
	name, rest, ok := strings.Cut(line, "_sum")
	if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
		return "", 0, false
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	n, err := strconv.ParseFloat(f[len(f)-1], 64)
	return name, n, err == nil
}

// mean is the average observation; NaN when nothing was counted.
func (h histogram) mean() float64 {
	if n := h[math.Inf(1)]; n > 0 {
		return h[sumKey] / n
	}
	return math.NaN()
}

// minus returns what h counted since before.
func (h histogram) minus(before histogram) histogram {
	d := histogram{}
	for b, n := range h {
		d[b] = n - before[b]
	}
	return d
}

// quantile estimates the q-quantile, interpolating within its bucket;
// NaN when nothing was counted.
func (h histogram) quantile(q float64) float64 {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		if b != sumKey {
			bounds = append(bounds, b)
		}
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 || h[bounds[len(bounds)-1]] <= 0 {
		return math.NaN()
	}
	want := q * h[bounds[len(bounds)-1]]
	lo, below := 0.0, 0.0
	for _, b := range bounds {
		if n := h[b]; n >= want {
			if math.IsInf(b, 1) {
				return lo
			}
			return lo + (b-lo)*(want-below)/max(n-below, 1e-9)
		} else {
			lo, below = b, n
		}
	}
	return lo
}

// stage names one issuer histogram and how to print it.
type stage struct {
	label, metric string
	seconds       bool
}

// issuerStages are the stages of a change the issuer measures.
var issuerStages = []stage{
	{"commit", "gatepass_issuer_commit_duration_seconds", true},
	{"changes/commit", "gatepass_issuer_commit_changes", false},
	{"publish", "gatepass_issuer_publish_duration_seconds", true},
	{"events/publish", "gatepass_issuer_publish_events", false},
	{"commit→published", "gatepass_issuer_change_publish_wait_duration_seconds", true},
	{"published→receipt", "gatepass_issuer_change_receipt_wait_duration_seconds", true},
}

// printStages prints the p50 and p99 of each issuer stage between two
// scrapes (sizes: their average).
func printStages(before, after map[string]histogram) {
	fmt.Print("  issuer stages (p50/p99):")
	for _, st := range issuerStages {
		h := after[st.metric].minus(before[st.metric])
		p50, p99 := h.quantile(0.5), h.quantile(0.99)
		if math.IsNaN(p50) {
			continue
		}
		if st.seconds {
			fmt.Printf(" %s %.2f/%.2f ms;", st.label, p50*1000, p99*1000)
		} else {
			fmt.Printf(" %s %.1f on average;", st.label, h.mean())
		}
	}
	fmt.Println()
}
