package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

const (
	apacheBinary  = "/usr/sbin/apache2"
	apacheModules = "/usr/lib/apache2/modules"
	// introspectionSecret is the secret Apache presents at /introspect.
	introspectionSecret = "apache-introspects-0123456789"
)

// TestApacheIntrospection: Debian's Apache with mod_oauth2, introspecting
// gatepass tokens at a validator (RFC 7662), as a resource server that
// knows nothing of gatepass would: a valid token is let through;
// revoked, disabled, unknown and missing ones get 401; and Apache
// presenting a wrong client secret gets nothing through.
func TestApacheIntrospection(t *testing.T) {
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_oauth2.so")); err != nil {
		t.Skip("Apache with mod_oauth2 is not installed here (.ci/run installs apache2 and libapache2-mod-oauth2)")
	}
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	admin := iss.vars["GATEPASS_TOKEN"]
	v := w.startValidatorEnv("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 3*time.Second,
		map[string]string{"GATEPASS_INTROSPECTION_CLIENTS": "apache:" + introspectionSecret})
	ic := issuerClient(t, iss)
	good := w.createToken(ic, admin, "docs-site-reader", gatepassv1.Role_ROLE_VIEWER)
	revoked := w.createToken(ic, admin, "retired-reader", gatepassv1.Role_ROLE_VIEWER)
	disabled := w.createToken(ic, admin, "paused-reader", gatepassv1.Role_ROLE_VIEWER)
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: revoked.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.DisableToken(authed(t, admin), &gatepassv1.DisableTokenRequest{TokenId: disabled.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	check := v.vars["GATEPASS_CHECK_ADDR"]
	api := startApache(t, filepath.Join(dir, "apache"), check, introspectionSecret)
	eventually(t, 10*time.Second, "Apache lets a valid token through", func() bool { return apacheGet(t, api, good.GetSecret()) == http.StatusOK })
	for name, secret := range map[string]string{
		"revoked": revoked.GetSecret(), "disabled": disabled.GetSecret(),
		"unknown": "gp_" + fmt.Sprintf("%036d", 7), "missing": "",
	} {
		if got := apacheGet(t, api, secret); got != http.StatusUnauthorized {
			t.Errorf("%s token: Apache answered %d, want 401", name, got)
		}
	}
	wrong := startApache(t, filepath.Join(dir, "apache-wrong"), check, "not-the-secret-0123456789")
	eventually(t, 10*time.Second, "Apache with a wrong client secret refuses", func() bool { return apacheGet(t, wrong, good.GetSecret()) == http.StatusUnauthorized })
}

// apacheGet asks Apache for the protected page with a bearer token.
func apacheGet(t *testing.T, base, secret string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/hello", nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startApache runs Apache in the foreground (-X) on a loopback port with a
// protected /api that introspects at the validator's check address.
func startApache(t *testing.T, dir, check, secret string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "www", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "api", "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`ServerName 127.0.0.1
Listen %[1]s
PidFile %[2]s/httpd.pid
ErrorLog %[2]s/error.log
LogLevel warn
LoadModule mpm_event_module %[3]s/mod_mpm_event.so
LoadModule authn_core_module %[3]s/mod_authn_core.so
LoadModule authz_core_module %[3]s/mod_authz_core.so
LoadModule authz_user_module %[3]s/mod_authz_user.so
LoadModule oauth2_module %[3]s/mod_oauth2.so
DocumentRoot %[2]s/www
<Directory %[2]s/www>
  Require all granted
</Directory>
<Location /api>
  AuthType oauth2
  OAuth2TokenVerify introspect http://%[4]s/introspect introspect.auth=client_secret_basic&client_id=apache&client_secret=%[5]s
  Require valid-user
</Location>
`, addr, dir, apacheModules, check, secret)
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(apacheBinary, "-X", "-f", path)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("Apache error log:\n%s", tail(string(b), 4000))
			}
		}
	})
	base := "http://" + addr
	eventually(t, 10*time.Second, "Apache listening", func() bool { return apacheGet(t, base, "") != 0 })
	return base
}
