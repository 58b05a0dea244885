// Command load measures gatepass on this machine. It starts the system as
// `make run` does, from the binaries in -bin (an issuer embedding NATS and
// -validators validators, each with its own report key), and a reference
// process (an empty grpc-go handler and an empty net/http handler). With
// -nats N the token stream lives on N nats-server processes instead (N=3:
// a cluster with three replicas, the production shape). With -data DIR the
// system's data is kept in DIR and reused by the next run. It
// seeds -tokens tokens, then measures, each for -duration:
//
//   - ValidateToken at each -concurrency, against a validator and against
//     the empty handler, over 4 connections; the ratio is gatepass's share
//     of the ceiling;
//   - HTTP /check against the empty net/http handler, the same way;
//   - CreateToken at -create-concurrency, every call waiting for its
//     receipt (an incomplete receipt counts as an error);
//   - RevokeToken one at a time, each returning a complete receipt;
//   - the cold start of one more validator with an empty cache: time to
//     SERVING and resident memory then.
//
// Latencies come from HDR histograms; CPU seconds and resident memory of
// every process are read from /proc. Client and servers share the machine,
// so every figure is also printed as a ratio to the reference measured in
// the same run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type config struct {
	bin, dir, data        string
	validators, tokens    int
	duration              time.Duration
	concurrency           []int
	createConc            int
	phases                map[string]bool
	keep, pprof           bool
	revokes, connsPerPeer int
	natsServers           int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "reference" {
		if err := serveReference(); err != nil {
			fmt.Fprintln(os.Stderr, "load reference:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	var conc, phases string
	flag.StringVar(&cfg.bin, "bin", "bin", "directory holding the issuer and validator binaries")
	flag.IntVar(&cfg.validators, "validators", 3, "validators to run")
	flag.IntVar(&cfg.tokens, "tokens", 10_000, "tokens to create before measuring")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each measurement")
	flag.StringVar(&conc, "concurrency", "16,64", "ValidateToken and /check concurrencies")
	flag.IntVar(&cfg.createConc, "create-concurrency", 64, "CreateToken concurrency (also for seeding)")
	flag.IntVar(&cfg.revokes, "revokes", 2000, "revokes to measure (at most, within -duration)")
	flag.StringVar(&phases, "phases", "validate,check,create,revoke,coldstart", "what to measure")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the data directory")
	flag.StringVar(&cfg.data, "data", "", "data directory to keep and reuse: a later run starts from the tokens an earlier one seeded there and seeds only the rest")
	flag.IntVar(&cfg.natsServers, "nats", 0, "nats-server processes from -bin to run (1, or 3 for a cluster with R3 streams); 0 embeds NATS in the issuer as make run does")
	flag.BoolVar(&cfg.pprof, "pprof", false, "serve the issuer's Go profiles (address printed)")
	flag.Parse()
	for _, c := range strings.Split(conc, ",") {
		var n int
		if _, err := fmt.Sscan(c, &n); err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "load: bad concurrency %q\n", c)
			os.Exit(2)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	cfg.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		cfg.phases[strings.TrimSpace(p)] = true
	}
	if cfg.natsServers < 0 || cfg.natsServers == 2 {
		fmt.Fprintln(os.Stderr, "load: -nats takes 0, 1 or 3 and more (a cluster needs a majority)")
		os.Exit(2)
	}
	cfg.connsPerPeer = 4
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	dir, err := dataDir(cfg)
	if err != nil {
		return err
	}
	cfg.dir = dir
	if cfg.keep || cfg.data != "" {
		fmt.Println("data and logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	sys, err := startSystem(cfg)
	if err != nil {
		return err
	}
	defer sys.stop()
	if err := sys.loadState(); err != nil {
		return fmt.Errorf("state of the earlier run in %s: %w", dir, err)
	}
	defer func() {
		if err := sys.saveState(); err != nil {
			fmt.Fprintln(os.Stderr, "load: saving the state for the next run:", err)
		}
	}()
	ctx := context.Background()
	fmt.Printf("# gatepass load: %d validators, %s, %s per measurement, GOMAXPROCS of this client %d\n", cfg.validators, natsShape(cfg.natsServers), cfg.duration, runtimeProcs())
	start := time.Now()
	had := sys.tokenCount()
	seeded := max(0, cfg.tokens-had)
	if err := sys.seed(ctx, seeded); err != nil {
		return err
	}
	if err := sys.saveState(); err != nil {
		return err
	}
	fmt.Printf("seeded %d tokens in %s (%.0f/s), %d there already\n", seeded, time.Since(start).Round(time.Millisecond), float64(seeded)/time.Since(start).Seconds(), had)
	sys.report("after seeding")
	var rows []row
	if cfg.phases["validate"] {
		rows = append(rows, sys.validateGRPC(ctx)...)
	}
	if cfg.phases["check"] {
		rows = append(rows, sys.checkHTTP(ctx)...)
	}
	if cfg.phases["create"] {
		rows = append(rows, sys.creates(ctx))
	}
	if cfg.phases["revoke"] {
		rows = append(rows, sys.revokes(ctx))
	}
	if cfg.phases["coldstart"] {
		r, err := sys.coldStart()
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	fmt.Printf("\n## summary at %d tokens\n\n| measure | gatepass | reference | ratio |\n|---|---|---|---|\n", sys.tokenCount())
	for _, r := range rows {
		fmt.Println(r)
	}
	return nil
}

// dataDir is -data, created if need be, or a new temporary directory.
func dataDir(cfg config) (string, error) {
	if cfg.data == "" {
		return os.MkdirTemp("", "gatepass-load")
	}
	return cfg.data, os.MkdirAll(cfg.data, 0o700)
}

// row is one line of the summary table.
type row struct{ measure, ours, reference, ratio string }

func (r row) String() string {
	return fmt.Sprintf("| %s | %s | %s | %s |", r.measure, r.ours, orDash(r.reference), orDash(r.ratio))
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// natsShape names where the token stream lives.
func natsShape(n int) string {
	switch n {
	case 0:
		return "NATS embedded in the issuer"
	case 1:
		return "one nats-server"
	}
	return fmt.Sprintf("a cluster of %d nats-servers (R%d)", n, n)
}

func logPath(cfg config, name string) string { return filepath.Join(cfg.dir, name+".log") }

// cachePath is where validator name keeps its cache (and, beside it, its
// report key).
func cachePath(cfg config, name string) string { return filepath.Join(cfg.dir, name+".db") }
