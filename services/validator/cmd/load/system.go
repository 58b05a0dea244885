package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// system is the running gatepass, the reference process and clients.
type system struct {
	cfg        config
	nats       []*proc // nats-server processes, when not embedded
	issuer     *proc
	validators []*proc
	reference  *proc
	metrics    string // the issuer's /metrics address
	iss        gatepassv1.IssuerServiceClient
	admin      string
	mu         sync.Mutex
	secrets    []string // seeded secrets, validated and revoked
	ids        []string
	created    int
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

func startSystem(cfg config) (*system, error) {
	s := &system{cfg: cfg}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if s.reference, err = startProc("reference", self, logPath(cfg, "reference"), nil, "GATEPASS_VALIDATOR_ADDR", "reference"); err != nil {
		return nil, err
	}
	var keys []string
	for i := range cfg.validators {
		out, err := exec.Command(filepath.Join(cfg.bin, "validator"), "key", "-key-file", filepath.Join(cfg.dir, fmt.Sprintf("v%d.db.nk", i))).Output()
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("validator key: %w", err)
		}
		keys = append(keys, strings.TrimSpace(string(out)))
	}
	env := map[string]string{
		"GATEPASS_ISSUER_LISTEN":        "127.0.0.1:0",
		"GATEPASS_EMBEDDED_NATS_LISTEN": "127.0.0.1:0",
		"GATEPASS_DATA_DIR":             filepath.Join(cfg.dir, "issuer"),
		"GATEPASS_BOOTSTRAP":            "true",
		"GATEPASS_VALIDATOR_KEYS":       strings.Join(keys, ","),
		"GATEPASS_LOG_LEVEL":            "warn",
	}
	if cfg.natsServers > 0 {
		var urls string
		if s.nats, urls, err = startNATS(cfg, cfg.natsServers); err != nil {
			s.stop()
			return nil, err
		}
		env["GATEPASS_NATS_URL"] = urls
		env["GATEPASS_STREAM_REPLICAS"] = fmt.Sprint(cfg.natsServers)
	}
	// The issuer's metrics give the stages of a change (printed after
	// each measurement).
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env["GATEPASS_METRICS_LISTEN"] = metrics
	if cfg.pprof {
		env["GATEPASS_PPROF"] = "true"
		fmt.Printf("issuer profiles: http://%s/debug/pprof/\n", metrics)
	}
	s.issuer, err = startProc("issuer", filepath.Join(cfg.bin, "issuer"), logPath(cfg, "issuer"), env, "GATEPASS_ISSUER_ADDR", "serve")
	if err != nil {
		s.stop()
		return nil, err
	}
	s.metrics = metrics
	s.admin = s.issuer.vars["GATEPASS_TOKEN"]
	s.iss = gatepassv1.NewIssuerServiceClient(dial(s.issuer.vars["GATEPASS_ISSUER_ADDR"]))
	for i := range cfg.validators {
		v, err := s.startValidator(fmt.Sprintf("v%d", i))
		if err != nil {
			s.stop()
			return nil, err
		}
		s.validators = append(s.validators, v)
	}
	for _, v := range s.validators {
		if _, err := waitServing(v, 2*time.Minute); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

// startValidator starts a validator named name whose cache and key live in
// the data directory.
func (s *system) startValidator(name string) (*proc, error) {
	env := map[string]string{
		"GATEPASS_VALIDATOR_LISTEN":  "127.0.0.1:0",
		"GATEPASS_CHECK_LISTEN":      "127.0.0.1:0",
		"GATEPASS_NATS_URL":          s.issuer.vars["GATEPASS_NATS_URL"],
		"GATEPASS_ISSUER_PUBLIC_KEY": s.issuer.vars["GATEPASS_ISSUER_PUBLIC_KEY"],
		"GATEPASS_VALIDATOR_CACHE":   cachePath(s.cfg, name),
		"GATEPASS_VALIDATOR_ID":      name,
		"GATEPASS_LOG_LEVEL":         "warn",
	}
	// The embedded server's credentials; external servers take anyone.
	if user := s.issuer.vars["GATEPASS_NATS_USER"]; user != "" {
		env["GATEPASS_NATS_USER"], env["GATEPASS_NATS_PASSWORD_FILE"] = user, s.issuer.vars["GATEPASS_NATS_PASSWORD_FILE"]
	}
	if g := os.Getenv("LOAD_VALIDATOR_GOGC"); g != "" {
		env["GOGC"] = g
	}
	if s.cfg.pprof {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		env["GATEPASS_METRICS_LISTEN"], env["GATEPASS_PPROF"] = addr, "true"
		fmt.Printf("%s profiles: http://%s/debug/pprof/\n", name, addr)
	}
	return startProc(name, filepath.Join(s.cfg.bin, "validator"), logPath(s.cfg, name), env, "GATEPASS_VALIDATOR_ADDR")
}

// waitServing polls the validator's /healthz until it answers 200 and
// returns how long after its start that was.
func waitServing(v *proc, within time.Duration) (time.Duration, error) {
	url := "http://" + v.vars["GATEPASS_CHECK_ADDR"] + "/healthz"
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(v.start), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s not serving within %s", v.name, within)
}

func (s *system) stop() {
	for _, p := range append(append(append([]*proc{s.reference}, s.validators...), s.issuer), s.nats...) {
		if p != nil {
			p.stop()
		}
	}
}

func (s *system) procs() []*proc {
	return append(append([]*proc{s.issuer}, s.validators...), s.nats...)
}

// report prints CPU seconds so far and resident memory of every process.
func (s *system) report(when string) {
	fmt.Printf("  processes %s:", when)
	for _, p := range append(s.procs(), s.reference) {
		if u, err := p.sample(); err == nil {
			fmt.Printf("  %s cpu %.1fs rss %d MiB;", p.name, u.CPU.Seconds(), u.RSS>>20)
		}
	}
	fmt.Println()
}

func (s *system) tokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

func (s *system) authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.admin)
}

// validated is how many of the kept tokens (the first) validation uses;
// revocation takes the others, so validation never meets a revoked one.
const validated = 64

// maxKept bounds the secrets kept for validation and revocation.
const maxKept = 50_000

// create makes one never-expiring tester token and waits for its receipt.
func (s *system) create(ctx context.Context, name string) error {
	resp, err := s.iss.CreateToken(s.authed(ctx), &gatepassv1.CreateTokenRequest{Name: name, Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.created++
	if len(s.secrets) < maxKept {
		s.secrets = append(s.secrets, resp.GetSecret())
		s.ids = append(s.ids, resp.GetToken().GetId())
	}
	s.mu.Unlock()
	if !resp.GetReceipt().GetComplete() {
		return fmt.Errorf("incomplete receipt")
	}
	return nil
}

// seed creates n more tokens (none if n <= 0) at the create concurrency.
func (s *system) seed(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	from := int64(s.tokenCount()) // names after those of an earlier run
	r := drive(ctx, "seed", s.cfg.createConc, 24*time.Hour, int64(n), func(ctx context.Context, _ int, i int64) error {
		return s.create(ctx, fmt.Sprintf("load-seed-%d", from+i))
	})
	if r.Errors > 0 {
		return fmt.Errorf("seeding: %d of %d creates failed; see %s", r.Errors, n, logPath(s.cfg, "issuer"))
	}
	return nil
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

func dial(addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err) // only for a malformed address, which processes never print
	}
	return conn
}
