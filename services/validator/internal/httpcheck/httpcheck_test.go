package httpcheck

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/gate"
	"github.com/gatepass/gatepass/services/validator/internal/rpc"
)

// serve runs a check server over a real cache holding one token limited to
// 203.0.113.0/24 and 2001:db8::/32, trusting the given proxies.
func serve(t *testing.T, trusted string) (addr, secret string) {
	t.Helper()
	return serveWith(t, trusted, Nginx, gate.Rules{})
}

// serveWith runs a check server for a gateway style with rules; the token
// is a tester's.
func serveWith(t *testing.T, trusted string, style Style, rules gate.Rules) (addr, secret string) {
	t.Helper()
	c, err := cache.Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sec, _ := token.Format{}.Mint()
	d := sec.Digest()
	if _, err := c.Apply([]cache.Item{{Sequence: 1, Token: &gatepassv1.TokenState{SecretSha256: d[:], Token: &gatepassv1.Token{
		Id: "tok_1", WorkspaceId: "ws_1", Role: gatepassv1.Role_ROLE_TESTER, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
		NeverExpires: true, Version: 1, AllowedCidrs: []string{"203.0.113.0/24", "2001:db8::/32"},
	}}}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	current := func() error { return nil }
	r := &rpc.Server{Store: c, Current: current, Now: time.Now, Logger: log}
	proxies, err := gate.ParseProxies(trusted)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New("127.0.0.1:0", &gate.Gate{Decide: r.Decide, Current: current, Logger: log, Rules: rules}, style, proxies, func() bool { return true }, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s.Addr(), sec.String()
}

func status(t *testing.T, addr, secret string, headers map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/check", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestForwardedForTrustedOnlyFromProxies(t *testing.T) {
	t.Parallel()
	// The test client is 127.0.0.1. Untrusted: its X-Forwarded-For is a lie.
	addr, secret := serve(t, "10.0.0.0/8")
	if got := status(t, addr, secret, map[string]string{"X-Forwarded-For": "203.0.113.5"}); got != 401 {
		t.Fatalf("spoofed X-Forwarded-For from an untrusted peer: %d, want 401", got)
	}
	// Trusted: the proxy's X-Forwarded-For names the client.
	addr, secret = serve(t, "127.0.0.1/32")
	for xff, want := range map[string]int{
		"203.0.113.5":               200,
		"2001:db8::9":               200,
		"198.51.100.7":              401,
		"203.0.113.5, 198.51.100.7": 401, // the hop nearest us wins
		"":                          401, // the proxy itself is not allowed
	} {
		h := map[string]string{}
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		if got := status(t, addr, secret, h); got != want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", xff, got, want)
		}
	}
}

// TestOversizedHeadersRefused: headers beyond the limit get the usual 401
// (nginx would turn anything else into a 500), even with a good token.
func TestOversizedHeadersRefused(t *testing.T) {
	t.Parallel()
	addr, secret := serve(t, "127.0.0.1/32")
	allowed := map[string]string{"X-Forwarded-For": "203.0.113.5"}
	if got := status(t, addr, secret, allowed); got != 200 {
		t.Fatalf("baseline: %d", got)
	}
	allowed["X-Padding"] = strings.Repeat("a", 2*MaxHeaderBytes)
	got := status(t, addr, secret, allowed)
	if got != http.StatusUnauthorized {
		t.Fatalf("oversized headers: %d, want 401", got)
	}
}

// TestOriginalRequestComesFromTheStylesHeaders: with "GET /api/reports:
// tester" and "/api/: admin", a tester's token reaches only report reads.
// The client's own copy of the other header pair, or of any pair when the
// peer is not a trusted proxy, is ignored.
func TestOriginalRequestComesFromTheStylesHeaders(t *testing.T) {
	t.Parallel()
	rules, err := gate.ParseRules([]byte(`[
		{"method": "GET", "path_prefix": "/api/reports", "min_role": "tester"},
		{"path_prefix": "/api/", "min_role": "admin"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	const from = "203.0.113.5"
	tests := []struct {
		name    string
		style   Style
		trusted string
		headers map[string]string
		want    int
	}{
		{"nginx: reports read", Nginx, "127.0.0.1", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/reports/1"}, 200},
		{"nginx: delete spoofed as GET with the forwarded pair", Nginx, "127.0.0.1",
			map[string]string{"X-Original-Method": "DELETE", "X-Original-URI": "/api/reports/1", "X-Forwarded-Method": "GET"}, 403},
		{"nginx: admin path spoofed with the forwarded pair", Nginx, "127.0.0.1",
			map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/admin/users", "X-Forwarded-Uri": "/api/reports/1"}, 403},
		{"caddy: admin path spoofed with X-Original-URI", Caddy, "127.0.0.1",
			map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/admin/users", "X-Original-URI": "/api/reports/1"}, 403},
		{"caddy: reports read", Traefik, "127.0.0.1", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/reports?x=1"}, 200},
		{"dot segments", Nginx, "127.0.0.1", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/reports/../admin/users"}, 403},
		{"double slash", Nginx, "127.0.0.1", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "//api/admin/users"}, 403},
		{"unmatched path", Nginx, "127.0.0.1", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/metrics"}, 403},
		{"headers from an untrusted peer", Nginx, "10.0.0.0/8", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/reports/1"}, 403},
	}
	for _, tt := range tests {
		addr, secret := serveWith(t, tt.trusted, tt.style, rules)
		h := map[string]string{"X-Forwarded-For": from}
		for k, v := range tt.headers {
			h[k] = v
		}
		if got := status(t, addr, secret, h); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRouteFromQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		want  gate.Route
	}{
		{"", gate.Route{}},
		{"min_role=tester", gate.Route{MinRole: "tester", HasMinRole: true}},
		{"project_id=prj_1&min_role=", gate.Route{ProjectID: "prj_1", HasProjectID: true, HasMinRole: true}},
		{"min_role=admin&min_role=viewer", gate.Route{MinRole: "admin", HasMinRole: true}},
		{"project_id=prj%5F1&x=y", gate.Route{ProjectID: "prj_1", HasProjectID: true}},
		{"project_id=%zz", gate.Route{ProjectID: "%zz", HasProjectID: true}},
		{"min_role", gate.Route{HasMinRole: true}},
	}
	for _, tt := range tests {
		if got := route(tt.query); got != tt.want {
			t.Errorf("route(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// BenchmarkCheckHandler measures one allowed /check inside the process
// (routing, gate, decision, identity headers), beside a handler that does
// nothing, with the same recorder.
func BenchmarkCheckHandler(b *testing.B) {
	c, err := cache.Open(filepath.Join(b.TempDir(), "v.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sec, _ := token.Format{}.Mint()
	d := sec.Digest()
	if _, err := c.Apply([]cache.Item{{Sequence: 1, Token: &gatepassv1.TokenState{SecretSha256: d[:], Token: &gatepassv1.Token{
		Id: "tok_1", WorkspaceId: "ws_1", Role: gatepassv1.Role_ROLE_TESTER, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
		NeverExpires: true, Version: 1,
	}}}}); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	current := func() error { return nil }
	r := &rpc.Server{Store: c, Current: current, Now: time.Now, Logger: log}
	s, err := New("127.0.0.1:0", &gate.Gate{Decide: r.Decide, Current: current, Logger: log}, Nginx, gate.Proxies{}, func() bool { return true }, log)
	if err != nil {
		b.Fatal(err)
	}
	defer s.lis.Close()
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"check", s.srv.Handler}, {"empty", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}} {
		b.Run(h.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/check?min_role=tester", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			req.Header.Set("Authorization", "Bearer "+sec.String())
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
