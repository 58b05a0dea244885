package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/logtest"
)

// runLocal starts deploy/local/run.sh (what `make run` runs) on kernel
// ports and returns the GATEPASS_* lines it printed, once it printed the
// check address; stop ends it with SIGINT, as Ctrl-C would.
func runLocal(t *testing.T, data string) (vars map[string]string, stop func()) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "deploy", "local", "run.sh"))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"GATEPASS_DATA_DIR=" + data, "GATEPASS_BIN_DIR=" + binDir,
		"GATEPASS_ISSUER_LISTEN=127.0.0.1:0", "GATEPASS_VALIDATOR_LISTEN=127.0.0.1:0",
		"GATEPASS_CHECK_LISTEN=127.0.0.1:0", "GATEPASS_EMBEDDED_NATS_LISTEN=127.0.0.1:0",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &logtest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stop = func() {
		select {
		case <-done:
			return
		default:
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("run.sh did not stop on SIGINT:\n%s", stderr.String())
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	t.Cleanup(stop)
	vars = map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("run.sh ended early:\n%s", stderr.String())
			}
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
			if strings.HasPrefix(line, "GATEPASS_CHECK_ADDR=") {
				// GATEPASS_TOKEN, on a first start, follows at once.
				grace := time.After(time.Second)
			more:
				for {
					select {
					case line, ok := <-lines:
						if !ok {
							break more
						}
						if k, v, ok := strings.Cut(line, "="); ok {
							vars[k] = v
						}
					case <-grace:
						break more
					}
				}
				go func() {
					for range lines {
					}
				}()
				return vars, stop
			}
		case <-deadline:
			t.Fatalf("run.sh printed nothing within 60s:\n%s", stderr.String())
		}
	}
}

// TestMakeRun: the local runner prints shell-sourceable lines, the owner
// token only on the first start, and a second start continues with the
// same data.
func TestMakeRun(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	w := newWorld(t)
	vars, stop := runLocal(t, data)
	owner := vars["GATEPASS_TOKEN"]
	if owner != "" {
		w.secret(owner)
	}
	for _, k := range []string{"GATEPASS_ISSUER_ADDR", "GATEPASS_VALIDATOR_ADDR", "GATEPASS_CHECK_ADDR", "GATEPASS_TOKEN"} {
		if vars[k] == "" {
			t.Fatalf("%s not printed: %v", k, vars)
		}
	}
	iss := &proc{vars: vars}
	created := w.createToken(issuerClient(t, iss), owner, "make-run-smoke", gatepassv1.Role_ROLE_VIEWER)
	if r := created.GetReceipt(); !r.GetComplete() || r.GetValidatorsApplied() != 1 {
		t.Fatalf("receipt from the local validator (are its reports believed?): %v", r)
	}
	vc := validatorClient(t, &proc{vars: vars})
	if got := reason(t, vc, created.GetSecret()); got != "REASON_ACTIVE" {
		t.Fatalf("validate: %s", got)
	}
	stop()
	for _, f := range []string{"issuer.log", "validator.log"} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		if strings.Contains(string(b), owner) || strings.Contains(string(b), created.GetSecret()) {
			t.Fatalf("%s holds a secret", f)
		}
	}

	vars, _ = runLocal(t, data)
	if vars["GATEPASS_TOKEN"] != "" {
		t.Fatal("the owner token was printed again on the second start")
	}
	vc = validatorClient(t, &proc{vars: vars})
	eventually(t, 10*time.Second, "token survives the restart", func() bool {
		return reason(t, vc, created.GetSecret()) == "REASON_ACTIVE"
	})
	if _, err := issuerClient(t, &proc{vars: vars}).GetToken(authed(t, owner), &gatepassv1.GetTokenRequest{TokenId: created.GetToken().GetId()}); err != nil {
		t.Fatalf("the first start's owner token after restart: %v", err)
	}
}
