package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/logtest"
	"github.com/gatepass/gatepass/pkg/natsembed"
	"github.com/gatepass/gatepass/pkg/natstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// binDir holds the issuer and validator binaries built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// -short (make test-short): these suites build every binary and run
		// real processes for minutes; make test runs them.
		fmt.Println("e2e: skipped with -short: the end-to-end and chaos suites run real processes (make test runs them)")
		os.Exit(0)
	}
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gatepass-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Tests run the binaries with the race detector; benchmarks measure
	// them as they ship.
	flag.Parse()
	race := flag.Lookup("test.bench").Value.String() == ""
	for _, b := range []struct {
		name, pkg string
		ours      bool
	}{
		{"issuer", "./services/issuer/cmd/issuer", true},
		{"validator", "./services/validator/cmd/validator", true},
		{"gatepassctl", "./services/issuer/cmd/gatepassctl", true},
		// The chaos suite's NATS cluster, from the module gatepass uses.
		{"nats-server", "github.com/nats-io/nats-server/v2", false},
	} {
		args := []string{"build", "-o", filepath.Join(dir, b.name)}
		if race && b.ours {
			args = append(args, "-race")
		}
		if b.ours {
			// The crash tests hold the outbox back with a failpoint that
			// production builds do not have.
			args = append(args, "-tags", "failpoints")
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.name, err, out)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	w := strings.TrimSpace(string(out))
	if w == "" || w == "off" {
		return "", fmt.Errorf("end-to-end tests run inside the gatepass go.work")
	}
	return filepath.Dir(w), nil
}

// proc is a running gatepass binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	vars   map[string]string // GATEPASS_* lines it printed
	stderr *logtest.Buffer
	done   chan struct{}
}

// world tracks everything a test starts, and every secret it saw, so the
// cleanup can check that no secret reached any log.
type world struct {
	t testing.TB
	// logLevel of the processes started; debug unless a benchmark lowers it.
	logLevel string
	mu       sync.Mutex
	procs    []*proc
	secrets  []string
	// natsAuth is what validators need for an issuer's embedded NATS, by URL.
	natsAuth map[string]map[string]string
}

func newWorld(t testing.TB) *world {
	w := &world{t: t, logLevel: "debug", natsAuth: map[string]map[string]string{}}
	t.Cleanup(func() {
		for _, p := range w.procs {
			p.stop(t)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.procs {
			logs := p.stderr.String()
			for _, s := range w.secrets {
				if strings.Contains(logs, s) {
					t.Errorf("%s logged a secret", p.name)
				}
			}
			if t.Failed() {
				t.Logf("%s stderr:\n%s", p.name, tail(logs, 8000))
			}
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (w *world) secret(s string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secrets = append(w.secrets, s)
	return s
}

// start runs a binary and waits until it printed want (a GATEPASS_* name).
func (w *world) start(name, bin string, env map[string]string, want string, args ...string) *proc {
	w.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, bin), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, vars: map[string]string{}, stderr: &logtest.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", name, err)
	}
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(p.done)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				w.t.Fatalf("%s exited before printing %s:\n%s", name, want, p.stderr.String())
			}
			if k, v, ok := strings.Cut(line, "="); ok {
				p.vars[k] = v
				if k == "GATEPASS_TOKEN" {
					w.secret(v)
				}
			}
			if strings.HasPrefix(line, want+"=") {
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-deadline:
			w.t.Fatalf("%s did not print %s within 30s:\n%s", name, want, p.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits (bounded); kills if needed.
func (p *proc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill9 kills the process without warning.
func (p *proc) kill9() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// startNATS runs a NATS JetStream server in the test process, apart from
// the issuer, so tests can stop it independently.
func startNATS(t testing.TB) *natsembed.Server {
	ns, _, _ := natstest.Start(t)
	return ns
}

// natsAndIssuer starts NATS in the test process and an issuer using it; it
// returns them and a scratch directory for validator caches.
func (w *world) natsAndIssuer() (*natsembed.Server, *proc, string) {
	ns := startNATS(w.t)
	dir := w.t.TempDir()
	return ns, w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: filepath.Join(dir, "issuer")}), dir
}

type issuerOpts struct {
	natsURL string
	dataDir string
	env     map[string]string
}

// startIssuer starts an issuer that bootstraps on first start. With no NATS
// URL it embeds NATS.
func (w *world) startIssuer(o issuerOpts) *proc {
	env := map[string]string{
		"GATEPASS_ISSUER_LISTEN":        "127.0.0.1:0",
		"GATEPASS_EMBEDDED_NATS_LISTEN": "127.0.0.1:0",
		"GATEPASS_DATA_DIR":             o.dataDir,
		"GATEPASS_BOOTSTRAP":            "true",
		"GATEPASS_PROPAGATION_TIMEOUT":  "5s",
		"GATEPASS_MAX_ANSWER_BOUND":     "4s",
		"GATEPASS_DEVELOPMENT":          "true",
		"GATEPASS_HEARTBEAT_INTERVAL":   "200ms",
		"GATEPASS_VALIDATOR_LIVENESS":   "2s",
		"GATEPASS_LOG_LEVEL":            "debug",
	}
	if o.natsURL != "" {
		env["GATEPASS_NATS_URL"] = o.natsURL
	}
	for k, v := range o.env {
		env[k] = v
	}
	p := w.start("issuer", "issuer", env, "GATEPASS_ISSUER_ADDR")
	if user := p.vars["GATEPASS_NATS_USER"]; user != "" {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.natsAuth[p.vars["GATEPASS_NATS_URL"]] = map[string]string{
			"GATEPASS_NATS_USER": user, "GATEPASS_NATS_PASSWORD_FILE": p.vars["GATEPASS_NATS_PASSWORD_FILE"],
		}
	}
	return p
}

func (w *world) startValidator(name, natsURL, publicKey, cache string, staleness time.Duration) *proc {
	return w.startValidatorEnv(name, natsURL, publicKey, cache, staleness, nil)
}

// startValidatorEnv starts a validator with extra environment.
func (w *world) startValidatorEnv(name, natsURL, publicKey, cache string, staleness time.Duration, extra map[string]string) *proc {
	env := map[string]string{
		"GATEPASS_USAGE_INTERVAL":    "200ms",
		"GATEPASS_VALIDATOR_LISTEN":  "127.0.0.1:0",
		"GATEPASS_CHECK_LISTEN":      "127.0.0.1:0",
		"GATEPASS_NATS_URL":          natsURL,
		"GATEPASS_ISSUER_PUBLIC_KEY": publicKey,
		"GATEPASS_VALIDATOR_CACHE":   cache,
		"GATEPASS_VALIDATOR_ID":      name,
		"GATEPASS_STALENESS":         staleness.String(),
		"GATEPASS_REPORT_INTERVAL":   "200ms",
		"GATEPASS_MAX_CLOCK_SKEW":    "250ms",
		"GATEPASS_LOG_LEVEL":         w.logLevel,
	}
	w.mu.Lock()
	for k, v := range w.natsAuth[natsURL] {
		env[k] = v
	}
	w.mu.Unlock()
	for k, v := range extra {
		env[k] = v
	}
	return w.start(name, "validator", env, "GATEPASS_VALIDATOR_ADDR")
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func issuerClient(t testing.TB, p *proc) gatepassv1.IssuerServiceClient {
	return gatepassv1.NewIssuerServiceClient(dial(t, p.vars["GATEPASS_ISSUER_ADDR"]))
}

func validatorClient(t testing.TB, p *proc) gatepassv1.ValidatorServiceClient {
	return gatepassv1.NewValidatorServiceClient(dial(t, p.vars["GATEPASS_VALIDATOR_ADDR"]))
}

func authed(t testing.TB, secret string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// createToken creates a never-expiring workspace token and records its secret.
func (w *world) createToken(iss gatepassv1.IssuerServiceClient, admin, name string, role gatepassv1.Role) *gatepassv1.CreateTokenResponse {
	return w.createTokenWith(iss, admin, &gatepassv1.CreateTokenRequest{Name: name, Role: role, NeverExpires: true})
}

// validate calls ValidateToken with a short deadline.
func validate(t testing.TB, v gatepassv1.ValidatorServiceClient, secret string) (*gatepassv1.ValidateTokenResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.ValidateToken(ctx, &gatepassv1.ValidateTokenRequest{Token: secret})
}

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reason returns the validator's answer for secret, or "UNAVAILABLE"-style
// code names for RPC errors.
func reason(t testing.TB, v gatepassv1.ValidatorServiceClient, secret string) string {
	resp, err := validate(t, v, secret)
	if err != nil {
		return "error:" + statusCode(err)
	}
	return resp.GetReason().String()
}

func statusCode(err error) string { return status.Code(err).String() }

func createProject(t testing.TB, iss *proc, admin, name string) string {
	t.Helper()
	ws := gatepassv1.NewWorkspaceServiceClient(dial(t, iss.vars["GATEPASS_ISSUER_ADDR"]))
	resp, err := ws.CreateProject(authed(t, admin), &gatepassv1.CreateProjectRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetProject().GetId()
}

// createTokenIn creates a never-expiring token in a project.
func (w *world) createTokenIn(iss gatepassv1.IssuerServiceClient, admin, name string, role gatepassv1.Role, project string) *gatepassv1.CreateTokenResponse {
	return w.createTokenWith(iss, admin, &gatepassv1.CreateTokenRequest{Name: name, Role: role, ProjectId: project, NeverExpires: true})
}

func (w *world) createTokenWith(iss gatepassv1.IssuerServiceClient, admin string, req *gatepassv1.CreateTokenRequest) *gatepassv1.CreateTokenResponse {
	w.t.Helper()
	resp, err := iss.CreateToken(authed(w.t, admin), req)
	if err != nil {
		w.t.Fatalf("CreateToken %s: %v", req.GetName(), err)
	}
	w.secret(resp.GetSecret())
	return resp
}
