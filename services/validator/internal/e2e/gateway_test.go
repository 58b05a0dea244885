package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/logtest"
)

// needBinary finds a gateway binary. CI installs them (.ci/run), so there
// a missing one fails the test; elsewhere the test skips, saying why.
func needBinary(t *testing.T, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s); CI runs this test", name, name)
	}
	return path
}

func freeAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// upstream echoes the headers it received and counts requests.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(u.Close)
	return u
}

// gatewaySetup is a validator with its HTTP check listener, tokens for
// every case, and an upstream.
type gatewaySetup struct {
	w        *world
	iss      gatepassv1.IssuerServiceClient
	admin    string
	project  string
	check    string
	upstream *upstream
	tokens   map[string]*gatepassv1.CreateTokenResponse
}

// newGatewaySetup starts the issuer and a validator for a gateway style;
// rules, when set, are written to the validator's rules file with
// PROJECT replaced by the project's id.
func newGatewaySetup(t *testing.T, style, rules string) *gatewaySetup {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	admin := iss.vars["GATEPASS_TOKEN"]
	ic := issuerClient(t, iss)
	project := createProject(t, iss, admin, "checkout")
	env := map[string]string{
		"GATEPASS_VALIDATOR_LISTEN":  "127.0.0.1:0",
		"GATEPASS_CHECK_LISTEN":      "127.0.0.1:0",
		"GATEPASS_CHECK_STYLE":       style,
		"GATEPASS_NATS_URL":          ns.ClientURL(),
		"GATEPASS_ISSUER_PUBLIC_KEY": iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"],
		"GATEPASS_VALIDATOR_CACHE":   filepath.Join(dir, "v.db"),
		"GATEPASS_LOG_LEVEL":         "debug",
	}
	if rules != "" {
		path := filepath.Join(dir, "rules.json")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(rules, "prj_REPLACE_ME", project)), 0o600); err != nil {
			t.Fatal(err)
		}
		env["GATEPASS_GATEWAY_RULES_FILE"] = path
	}
	v := w.start("validator", "validator", env, "GATEPASS_VALIDATOR_ADDR")
	g := &gatewaySetup{w: w, iss: ic, admin: admin, check: v.vars["GATEPASS_CHECK_ADDR"], upstream: newUpstream(t), tokens: map[string]*gatepassv1.CreateTokenResponse{}}
	g.project = project
	other := createProject(t, iss, admin, "billing")
	g.tokens["tester"] = w.createTokenIn(ic, admin, "ci-checkout-tests", gatepassv1.Role_ROLE_TESTER, g.project)
	g.tokens["workspace"] = w.createToken(ic, admin, "ws-tester", gatepassv1.Role_ROLE_TESTER)
	g.tokens["admin"] = w.createTokenIn(ic, admin, "checkout-admin", gatepassv1.Role_ROLE_ADMIN, g.project)
	g.tokens["viewer"] = w.createTokenIn(ic, admin, "checkout-dashboard", gatepassv1.Role_ROLE_VIEWER, g.project)
	g.tokens["elsewhere"] = w.createTokenIn(ic, admin, "billing-tests", gatepassv1.Role_ROLE_ADMIN, other)
	g.tokens["disabled"] = w.createTokenIn(ic, admin, "paused-runner", gatepassv1.Role_ROLE_TESTER, g.project)
	g.tokens["revoked"] = w.createTokenIn(ic, admin, "retired-runner", gatepassv1.Role_ROLE_TESTER, g.project)
	if _, err := ic.DisableToken(authed(t, admin), &gatepassv1.DisableTokenRequest{TokenId: g.tokens["disabled"].GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: g.tokens["revoked"].GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	vc := validatorClient(t, v)
	eventually(t, 10*time.Second, "tokens applied", func() bool {
		return reason(t, vc, g.tokens["revoked"].GetSecret()) == "REASON_REVOKED"
	})
	return g
}

type reply struct {
	code    int
	header  http.Header
	body    string
	forward http.Header // what the upstream received, on 200
}

func get(t *testing.T, base, path, auth string, extra map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, body: string(body)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r.forward); err != nil {
			t.Fatalf("upstream reply %q: %v", body, err)
		}
	}
	return r
}

// exercise runs the same cases against any gateway at addr.
func (g *gatewaySetup) exercise(t *testing.T, addr string) {
	bearer := func(name string) string { return "Bearer " + g.tokens[name].GetSecret() }
	spoof := map[string]string{"X-Gatepass-Project-Id": "prj_spoofed", "X-Gatepass-Role": "owner", "X-Gatepass-Owner-Id": "mem_spoofed"}

	r := get(t, addr, "/runs", bearer("tester"), spoof)
	if r.code != 200 {
		t.Fatalf("valid token: %d %s", r.code, r.body)
	}
	f := r.forward
	if f.Get("X-Gatepass-Token-Id") != g.tokens["tester"].GetToken().GetId() || f.Get("X-Gatepass-Role") != "tester" ||
		f.Get("X-Gatepass-Project-Id") != g.project || f.Get("X-Gatepass-Workspace-Id") == "" ||
		f.Get("X-Gatepass-Owner-Id") != g.tokens["tester"].GetToken().GetOwnerId() {
		t.Fatalf("identity headers upstream: %v", f)
	}
	if f.Get("Authorization") != "" {
		t.Fatalf("authorization reached the upstream")
	}
	// A workspace token has no project: the client's spoofed one must not pass.
	r = get(t, addr, "/runs", bearer("workspace"), spoof)
	if r.code != 200 || r.forward.Get("X-Gatepass-Project-Id") != "" || r.forward.Get("X-Gatepass-Role") != "tester" {
		t.Fatalf("workspace token: %d, upstream saw %v", r.code, r.forward)
	}
	if r := get(t, addr, "/admin/users", bearer("admin"), nil); r.code != 200 {
		t.Fatalf("admin on /admin/: %d", r.code)
	}

	hits := g.upstream.hits.Load()
	unknown := "Bearer gp_" + strings.Repeat("A", 30) + "000000"
	var first reply
	for i, c := range []struct {
		name, auth, path string
		want             int
	}{
		{"revoked", bearer("revoked"), "/runs", 401},
		{"unknown", unknown, "/runs", 401},
		{"missing", "", "/runs", 401},
		{"malformed", "Bearer not-a-token", "/runs", 401},
		{"basic auth", "Basic dXNlcjpwYXNz", "/runs", 401},
		{"disabled", bearer("disabled"), "/runs", 401},
		{"role too low", bearer("viewer"), "/runs", 403},
		{"tester on admin", bearer("tester"), "/admin/users", 403},
		{"wrong project", bearer("elsewhere"), "/runs", 403},
	} {
		r := get(t, addr, c.path, c.auth, nil)
		if r.code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.code, c.want, r.body)
		}
		if c.want == 401 && !strings.Contains(r.header.Get("Www-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, r.header.Get("Www-Authenticate"))
		}
		if i == 0 {
			first = r
		} else if i == 1 && (r.body != first.body || r.header.Get("Www-Authenticate") != first.header.Get("Www-Authenticate")) {
			t.Errorf("unknown and revoked tokens are told apart: %q/%q vs %q/%q", r.body, r.header.Get("Www-Authenticate"), first.body, first.header.Get("Www-Authenticate"))
		}
	}
	if got := g.upstream.hits.Load(); got != hits {
		t.Errorf("denied requests reached the upstream %d times", got-hits)
	}

	// Revoke: 200 turns into 401 with nothing restarted. The validator runs
	// at the default staleness, above the test issuer's maximum answer
	// bound: its receipt must still count it (the first version dropped
	// its reports, completed without it, and the gateway let the revoked
	// token through now and then).
	rev, err := g.iss.RevokeToken(authed(t, g.admin), &gatepassv1.RevokeTokenRequest{TokenId: g.tokens["tester"].GetToken().GetId(), Reason: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	if r := rev.GetReceipt(); !r.GetComplete() || r.GetValidatorsApplied() != 1 {
		t.Fatalf("revoke receipt: %v", r)
	}
	if r := get(t, addr, "/runs", bearer("tester"), nil); r.code != 401 {
		t.Fatalf("after revoke: %d", r.code)
	}
}

func TestNginxAuthRequest(t *testing.T) {
	g := newGatewaySetup(t, "nginx", "")
	listen := g.startNginx(t, "gatepass.conf")
	g.exercise(t, listen)
}

// startNginx runs nginx with a config file from deploy/nginx and returns
// its address.
func (g *gatewaySetup) startNginx(t *testing.T, file string) string {
	nginx := needBinary(t, "nginx")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy", "nginx", file))
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	vars := map[string]string{
		"LISTEN_ADDR": listen, "GATEPASS_CHECK_ADDR": g.check, "GATEPASS_PROJECT_ID": g.project,
		"UPSTREAM_ADDR": strings.TrimPrefix(g.upstream.URL, "http://"),
	}
	// envsubst semantics: only the listed variables; nginx's own $vars stay.
	conf := os.Expand(string(tmpl), func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return "$" + k
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gatepass.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/gatepass.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	g.startGateway(t, "nginx", exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr"), listen)
	return listen
}

func TestCaddyForwardAuth(t *testing.T) {
	g := newGatewaySetup(t, "caddy", "")
	listen := g.startCaddy(t, "Caddyfile")
	g.exercise(t, listen)
}

// startCaddy runs Caddy with a file from deploy/caddy and returns its
// address.
func (g *gatewaySetup) startCaddy(t *testing.T, file string) string {
	caddy := needBinary(t, "caddy")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(caddy, "run", "--config", filepath.Join(root, "deploy", "caddy", file), "--adapter", "caddyfile")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir,
		"LISTEN_ADDR=" + listen, "GATEPASS_CHECK_ADDR=" + g.check, "GATEPASS_PROJECT_ID=" + g.project,
		"UPSTREAM_ADDR=" + strings.TrimPrefix(g.upstream.URL, "http://"),
	}
	g.startGateway(t, "caddy", cmd, listen)
	return listen
}

// TestGatewayRulesCannotBeSteered: behind real nginx and Caddy, with the
// shipped rules (GET /api/reports needs viewer, the rest of /api/ admin,
// anything else refused), a viewer token reaches report reads and nothing
// else, whatever headers or path spelling the client tries.
func TestGatewayRulesCannotBeSteered(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(root, "deploy", "gatepass-rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, gw := range []struct{ name, style, file string }{{"nginx", "nginx", "gatepass-rules.conf"}, {"caddy", "caddy", "Caddyfile.rules"}} {
		t.Run(gw.name, func(t *testing.T) {
			g := newGatewaySetup(t, gw.style, string(rules))
			var addr string
			if gw.name == "nginx" {
				addr = g.startNginx(t, gw.file)
			} else {
				addr = g.startCaddy(t, gw.file)
			}
			viewer, admin := "Bearer "+g.tokens["viewer"].GetSecret(), "Bearer "+g.tokens["admin"].GetSecret()
			if r := get(t, addr, "/api/reports/7", viewer, nil); r.code != 200 {
				t.Fatalf("viewer reading a report: %d %s", r.code, r.body)
			}
			if r := get(t, addr, "/api/admin/users", admin, nil); r.code != 200 {
				t.Fatalf("admin on the admin API: %d %s", r.code, r.body)
			}
			hits := g.upstream.hits.Load()
			for _, c := range []struct {
				name, method, path string
				headers            map[string]string
			}{
				{"DELETE spoofed as GET", "DELETE", "/api/reports/7", map[string]string{"X-Forwarded-Method": "GET", "X-Original-Method": "GET"}},
				{"admin path behind a spoofed X-Original-URI", "GET", "/api/admin/users", map[string]string{"X-Original-URI": "/api/reports/7"}},
				{"admin path behind a spoofed X-Forwarded-Uri", "GET", "/api/admin/users", map[string]string{"X-Forwarded-Uri": "/api/reports/7"}},
				{"dot segments", "GET", "/api/reports/../admin/users", nil},
				{"encoded dot segments", "GET", "/api/reports/%2e%2e/admin/users", nil},
				{"double slash", "GET", "//api/admin/users", nil},
				{"encoded slash", "GET", "/api/reports%2f..%2fadmin/users", nil},
				{"no rule", "GET", "/internal/metrics", nil},
			} {
				if code := send(t, addr, c.method, c.path, viewer, c.headers); code/100 == 2 {
					t.Errorf("%s: %s %s answered %d for a viewer", c.name, c.method, c.path, code)
				}
			}
			if got := g.upstream.hits.Load(); got != hits {
				t.Errorf("refused requests reached the upstream %d times", got-hits)
			}
		})
	}
}

// send makes a request with a raw path (no client-side cleaning).
func send(t *testing.T, addr, method, path, auth string, headers map[string]string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n", method, path, addr, auth)
	for k, v := range headers {
		req += k + ": " + v + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startGateway runs cmd until the test ends and waits for addr to accept.
func (g *gatewaySetup) startGateway(t *testing.T, name string, cmd *exec.Cmd, addr string) {
	logs := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so the workers it forks stop with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(logs.String(), 4000))
		}
	})
	eventually(t, 15*time.Second, name+" listening", func() bool {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
