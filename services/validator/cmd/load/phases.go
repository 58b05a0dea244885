package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
)

// op is one call of a measured operation by worker w.
type op = func(ctx context.Context, w int, i int64) error

// versus measures, at every concurrency, the operation opFor builds for
// the first validator against the one it builds for the reference
// (compare), and returns a summary row for each concurrency (measure holds
// a %d for it). opFor also returns what releases its clients.
func (s *system) versus(ctx context.Context, name, measure string, opFor func(target *proc, c int) (op, func())) []row {
	var rows []row
	targets := [2]*proc{s.validators[0], s.reference}
	for _, c := range s.cfg.concurrency {
		var ops [2]op
		for i, target := range targets {
			o, release := opFor(target, c)
			defer release()
			ops[i] = o
		}
		got := s.compare(ctx, fmt.Sprintf("%s c=%d", name, c), c, targets, ops)
		rows = append(rows, ratioRow(fmt.Sprintf(measure, c), got[0], got[1]))
	}
	return rows
}

// validateGRPC measures ValidateToken against the empty handler, over 4
// connections each.
func (s *system) validateGRPC(ctx context.Context) []row {
	req := s.validateRequests(validated)
	return s.versus(ctx, "ValidateToken", "ValidateToken rps, c=%d, 4 connections", func(target *proc, _ int) (op, func()) {
		conns := make([]*grpc.ClientConn, s.cfg.connsPerPeer)
		clients := make([]gatepassv1.ValidatorServiceClient, len(conns))
		for j := range clients {
			conns[j] = dial(target.vars["GATEPASS_VALIDATOR_ADDR"])
			clients[j] = gatepassv1.NewValidatorServiceClient(conns[j])
		}
		ours := target != s.reference
		return func(ctx context.Context, w int, _ int64) error {
				resp, err := clients[w%len(clients)].ValidateToken(ctx, req[w%len(req)])
				if err == nil && ours && !resp.GetActive() {
					return fmt.Errorf("refused: %v", resp.GetReason())
				}
				return err
			}, func() {
				for _, c := range conns {
					c.Close()
				}
			}
	})
}

// compare measures ops[0] (gatepass, on servers[0]) and ops[1] (the
// reference) in alternating one-second slices, after a warm-up of each, so
// both see the same background activity; it returns the sums.
func (s *system) compare(ctx context.Context, name string, c int, servers [2]*proc, ops [2]op) [2]result {
	for _, op := range ops {
		drive(ctx, "warm-up", c, time.Second, 0, op)
	}
	var got [2]result
	var cpu [2]time.Duration
	names := [2]string{name + " gatepass", name + " reference"}
	for elapsed := time.Duration(0); elapsed < s.cfg.duration; elapsed += time.Second {
		for i, op := range ops {
			before, _ := servers[i].sample()
			got[i] = got[i].add(drive(ctx, names[i], c, time.Second, 0, op))
			after, _ := servers[i].sample()
			cpu[i] += after.CPU - before.CPU
		}
	}
	for i := range got {
		fmt.Printf("%s  server cpu %.1f µs/op\n", got[i], float64(cpu[i].Microseconds())/float64(max(got[i].Ops, 1)))
	}
	return got
}

func (s *system) validateRequests(n int) []*gatepassv1.ValidateTokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := make([]*gatepassv1.ValidateTokenRequest, 0, n)
	for i := 0; i < n && i < len(s.secrets); i++ {
		reqs = append(reqs, &gatepassv1.ValidateTokenRequest{Token: s.secrets[i], MinRole: gatepassv1.Role_ROLE_TESTER, ClientIp: "10.0.0.1"})
	}
	return reqs
}

// checkHTTP measures /check against the empty net/http handler.
func (s *system) checkHTTP(ctx context.Context) []row {
	secrets := s.validateRequests(validated)
	return s.versus(ctx, "GET /check", "HTTP /check rps, c=%d", func(target *proc, c int) (op, func()) {
		url := "http://" + target.vars["GATEPASS_CHECK_ADDR"] + "/check?min_role=tester"
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}}
		return func(ctx context.Context, w int, _ int64) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+secrets[w%len(secrets)].GetToken())
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}, client.CloseIdleConnections
	})
}

// creates measures CreateToken with receipts.
func (s *system) creates(ctx context.Context) row {
	c := s.cfg.createConc
	name := fmt.Sprintf("CreateToken c=%d", c)
	r := s.measured(name, func() result {
		return drive(ctx, name, c, s.cfg.duration, 0, func(ctx context.Context, _ int, i int64) error {
			return s.create(ctx, fmt.Sprintf("load-create-%d-%d", time.Now().UnixNano(), i))
		})
	})
	return row{measure: fmt.Sprintf("CreateToken with receipt, c=%d", c),
		ours: fmt.Sprintf("%.0f/s, p50 %s, p99 %s, %d incomplete", r.Rate(), ms(r.P50), ms(r.P99), r.Errors)}
}

// revokes measures RevokeToken one at a time; every receipt must be
// complete: all validators applied the revocation.
func (s *system) revokes(ctx context.Context) row {
	s.mu.Lock()
	ids := append([]string(nil), s.ids[min(len(s.ids), validated):]...)
	s.mu.Unlock()
	n := min(int64(len(ids)), int64(s.cfg.revokes))
	r := s.measured("RevokeToken c=1", func() result {
		return drive(ctx, "RevokeToken c=1", 1, s.cfg.duration, n, func(ctx context.Context, _ int, i int64) error {
			resp, err := s.iss.RevokeToken(s.authed(ctx), &gatepassv1.RevokeTokenRequest{TokenId: ids[i], Reason: "load test"})
			if err == nil && !resp.GetReceipt().GetComplete() {
				return fmt.Errorf("incomplete receipt")
			}
			return err
		})
	})
	// The revoked are of no use to a later run.
	s.mu.Lock()
	if first := min(len(s.ids), validated); len(s.ids) > first {
		done := min(int(r.Ops+r.Errors), len(s.ids)-first)
		s.ids = append(s.ids[:first], s.ids[first+done:]...)
		s.secrets = append(s.secrets[:first], s.secrets[first+done:]...)
	}
	s.mu.Unlock()
	return row{measure: fmt.Sprintf("revoke → complete receipt, %d validators", len(s.validators)),
		ours: fmt.Sprintf("p50 %s, p99 %s (%d revokes, %d incomplete)", ms(r.P50), ms(r.P99), r.Ops, r.Errors)}
}

// coldStart starts one more validator with an empty cache and measures
// its time to SERVING and its memory then.
func (s *system) coldStart() (row, error) {
	name := fmt.Sprintf("cold%d", time.Now().UnixNano()%1000)
	v, err := s.startValidator(name)
	if err != nil {
		return row{}, err
	}
	// Stopped before its files go: a -data directory is kept for the next
	// run, and a cold start's cache (hundreds of MiB at 1M) and keys are
	// of no use to it.
	defer func() {
		v.stop()
		cache := cachePath(s.cfg, name)
		for _, f := range []string{cache, cache + ".nk", cache + ".nk.pub"} {
			_ = os.Remove(f)
		}
	}()
	took, err := waitServing(v, 10*time.Minute)
	if err != nil {
		return row{}, err
	}
	u, _ := v.sample()
	peak := peakRSS(v)
	fmt.Printf("%-34s serving after %s, cpu %.1fs, rss %d MiB (peak %d MiB)\n", "cold start", took.Round(time.Millisecond), u.CPU.Seconds(), u.RSS>>20, peak>>20)
	return row{measure: fmt.Sprintf("validator cold start, empty cache, %d tokens", s.tokenCount()),
		ours: fmt.Sprintf("SERVING after %s, RSS %d MiB (peak %d MiB)", took.Round(100*time.Millisecond), u.RSS>>20, peak>>20)}, nil
}

// measured runs m, printing its result and the CPU each process spent.
func (s *system) measured(name string, m func() result) result {
	before := map[*proc]usage{}
	all := append(s.procs(), s.reference)
	for _, p := range all {
		before[p], _ = p.sample()
	}
	stagesBefore, _ := scrape(s.metrics)
	r := m()
	fmt.Println(r)
	fmt.Printf("  cpu during %s:", name)
	for _, p := range all {
		if u, err := p.sample(); err == nil {
			fmt.Printf(" %s %.1fs (rss %d MiB);", p.name, (u.CPU - before[p].CPU).Seconds(), u.RSS>>20)
		}
	}
	fmt.Println()
	if stagesAfter, err := scrape(s.metrics); err == nil && stagesBefore != nil {
		printStages(stagesBefore, stagesAfter)
	}
	return r
}

func ratioRow(measure string, ours, ref result) row {
	return row{measure: measure,
		ours:      fmt.Sprintf("%.0f (p50 %s, p99 %s)", ours.Rate(), ms(ours.P50), ms(ours.P99)),
		reference: fmt.Sprintf("%.0f (p50 %s, p99 %s)", ref.Rate(), ms(ref.P50), ms(ref.P99)),
		ratio:     fmt.Sprintf("%.2f", ours.Rate()/ref.Rate())}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
