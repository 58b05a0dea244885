package gate

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

func TestBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer gp_abc", "gp_abc", true},
		{"bearer gp_abc", "gp_abc", true},
		{"BEARER   gp_abc  ", "gp_abc", true},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"gp_abc", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := Bearer(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Bearer(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer gp_abc", "bearer  x", "Basic x", "", "Bearer a\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := Bearer(s)
		if ok && (tok == "" || strings.ContainsAny(tok, " \t") || !strings.Contains(s, tok)) {
			t.Fatalf("Bearer(%q) = %q", s, tok)
		}
	})
}

func TestRules(t *testing.T) {
	t.Parallel()
	rs, err := ParseRules([]byte(`[
		{"method": "get", "path_prefix": "/api/reports", "min_role": "viewer"},
		{"path_prefix": "/api/", "project_id": "prj_x", "min_role": "ROLE_TESTER"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if p, r, ok := rs.Match("GET", "/api/reports/1"); p != "" || r != gatepassv1.Role_ROLE_VIEWER || !ok {
		t.Errorf("GET reports: %q %v %v", p, r, ok)
	}
	if p, r, ok := rs.Match("POST", "/api/reports/1"); p != "prj_x" || r != gatepassv1.Role_ROLE_TESTER || !ok {
		t.Errorf("POST reports: %q %v %v", p, r, ok)
	}
	// A valid token that matches no rule is not an allow, unless the rules
	// say so; without rules every path only needs a valid token.
	if _, _, ok := rs.Match("GET", "/health"); ok {
		t.Error("an unmatched request may go on by default")
	}
	open, err := ParseRules([]byte(`{"unmatched": "allow", "rules": [{"path_prefix": "/api/", "min_role": "admin"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, r, ok := open.Match("GET", "/health"); !ok || r != 0 {
		t.Errorf("unmatched allowed: %v %v", r, ok)
	}
	if _, _, ok := (Rules{}).Match("GET", "/anything"); !ok {
		t.Error("no rules file must leave paths alone")
	}
	for _, bad := range []string{`{"rules": [], "unmatched": "maybe"}`, `{"rule": []}`, `[{"path_prefix": "api"}]`, `[{"path_prefix": "/a/../b"}]`, `[{"path_prefix": "/", "min_role": "root"}]`} {
		if _, err := ParseRules([]byte(bad)); err == nil {
			t.Errorf("ParseRules(%s) accepted", bad)
		}
	}
}

// TestCheckRefusesSteeredRequests: with "GET /api/reports: viewer" and
// "/api/: admin", a viewer token must not reach anything but reports reads,
// however the path is spelled.
func TestCheckRefusesSteeredRequests(t *testing.T) {
	t.Parallel()
	rs, err := ParseRules([]byte(`[
		{"method": "GET", "path_prefix": "/api/reports", "min_role": "viewer"},
		{"path_prefix": "/api/", "min_role": "admin"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{
		Current: func() error { return nil },
		Rules:   rs,
		Logger:  slog.New(slog.DiscardHandler),
		Decide: func(_ string, req check.Request) (check.Answer, error) {
			if req.MinRole > gatepassv1.Role_ROLE_VIEWER {
				return check.Answer{Reason: gatepassv1.Reason_REASON_INSUFFICIENT_ROLE}, nil
			}
			return check.Answer{Reason: gatepassv1.Reason_REASON_ACTIVE, Token: check.Token{Scope: &check.Scope{}, Role: gatepassv1.Role_ROLE_VIEWER}, Known: true}, nil
		},
	}
	tests := []struct {
		method, path string
		want         Outcome
	}{
		{"GET", "/api/reports/7", Allow},
		{"DELETE", "/api/reports/7", Forbidden},
		{"GET", "/api/reports/../admin/users", Forbidden},
		{"GET", "//api/admin/users", Forbidden},
		{"GET", "/api/%72eports/../admin", Forbidden},
		{"GET", "/api/reports%2f..%2fadmin", Forbidden},
		{"GET", "/metrics", Forbidden},
		{"GET", "api/reports", Forbidden},
	}
	for _, tt := range tests {
		res, err := g.Check(context.Background(), Request{Authorization: "Bearer gp_x", Method: tt.method, Path: tt.path})
		if err != nil || res.Outcome != tt.want {
			t.Errorf("%s %s: %v, %v; want %v", tt.method, tt.path, res.Outcome, err, tt.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies("10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer ignores spoofed header", "192.0.2.7", []string{"203.0.113.9"}, "192.0.2.7"},
		{"trusted proxy, one hop", "10.1.1.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client spoofs left of a real hop", "10.1.1.1", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", "10.1.1.1", []string{"203.0.113.9, 10.2.2.2", "10.3.3.3"}, "203.0.113.9"},
		{"ipv6 proxy, ipv6 client", "::1", []string{"2001:db8::5"}, "2001:db8::5"},
		{"garbage from a trusted proxy", "10.1.1.1", []string{"not-an-ip"}, "10.1.1.1"},
		{"no header", "10.1.1.1", nil, "10.1.1.1"},
		{"mapped peer", "::ffff:10.1.1.1", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		if got := proxies.ClientIP(addr(tt.peer), tt.xff); got != addr(tt.want) {
			t.Errorf("%s: ClientIP = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := ParseProxies("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func FuzzClientIP(f *testing.F) {
	proxies, _ := ParseProxies("10.0.0.0/8")
	f.Add("10.0.0.1", "203.0.113.9, 10.0.0.2")
	f.Add("192.0.2.1", "1.2.3.4")
	f.Add("10.0.0.1", ",,, ,")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		got := proxies.ClientIP(p, []string{xff})
		if !got.IsValid() {
			t.Fatalf("invalid client address for peer %q xff %q", peer, xff)
		}
		if !proxies.Trusts(p) && got != p.Unmap() {
			t.Fatalf("untrusted peer %v was overridden by %q", p, xff)
		}
	})
}

func TestCheckOutcomes(t *testing.T) {
	t.Parallel()
	var seen check.Request
	decide := func(secret string, req check.Request) (check.Answer, error) {
		seen = req
		reason := map[string]gatepassv1.Reason{
			"good": gatepassv1.Reason_REASON_ACTIVE, "revoked": gatepassv1.Reason_REASON_REVOKED,
			"unknown": gatepassv1.Reason_REASON_UNKNOWN, "low": gatepassv1.Reason_REASON_INSUFFICIENT_ROLE,
			"elsewhere": gatepassv1.Reason_REASON_WRONG_PROJECT, "far": gatepassv1.Reason_REASON_IP_NOT_ALLOWED,
		}[secret]
		if secret == "broken" {
			return check.Answer{}, errors.New("disk")
		}
		return check.Answer{Reason: reason, Token: check.Token{ID: "tok_1", Scope: &check.Scope{WorkspaceID: "ws_1", OwnerID: "mem_1"}, Role: gatepassv1.Role_ROLE_ADMIN}, Known: true}, nil
	}
	rules, _ := ParseRules([]byte(`[{"path_prefix": "/admin", "min_role": "admin"}]`))
	current := error(nil)
	g := &Gate{Decide: decide, Current: func() error { return current }, Rules: rules, Logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	tests := []struct {
		auth string
		want Outcome
	}{
		{"Bearer good", Allow},
		{"", Unauthenticated},
		{"Basic x", Unauthenticated},
		{"Bearer unknown", Unauthenticated},
		{"Bearer revoked", Unauthenticated},
		{"Bearer far", Unauthenticated},
		{"Bearer low", Forbidden},
		{"Bearer elsewhere", Forbidden},
	}
	for _, tt := range tests {
		res, err := g.Check(ctx, Request{Authorization: tt.auth, Method: "GET", Path: "/admin/x"})
		if err != nil || res.Outcome != tt.want {
			t.Errorf("%q: outcome %v, %v; want %v", tt.auth, res.Outcome, err, tt.want)
		}
		if (res.Outcome == Allow) != (res.Headers != [len(IdentityHeaders)][2]string{}) {
			t.Errorf("%q: headers %v", tt.auth, res.Headers)
		}
	}
	if seen.MinRole != gatepassv1.Role_ROLE_ADMIN {
		t.Errorf("rule not applied: %v", seen)
	}
	if _, err := g.Check(ctx, Request{Authorization: "Bearer good", Path: "/admin", Route: Route{MinRole: "viewer", HasMinRole: true, ProjectID: "prj_1", HasProjectID: true}}); err != nil {
		t.Fatal(err)
	}
	if seen.MinRole != gatepassv1.Role_ROLE_VIEWER || seen.ProjectID != "prj_1" {
		t.Errorf("route settings do not beat rules: %v", seen)
	}
	if res, _ := g.Check(ctx, Request{Authorization: "Bearer good", Route: RouteFrom(map[string]string{"min_role": "root"})}); res.Outcome != Forbidden {
		t.Errorf("bad route role: %v", res.Outcome)
	}
	if res, err := g.Check(ctx, Request{Authorization: "Bearer broken", Path: "/admin/x"}); res.Outcome != Unavailable || err == nil {
		t.Errorf("decider failure: %v %v", res.Outcome, err)
	}
	current = errors.New("stale")
	if res, _ := g.Check(ctx, Request{Authorization: "Bearer good"}); res.Outcome != Unavailable {
		t.Errorf("stale validator: %v", res.Outcome)
	}
}
