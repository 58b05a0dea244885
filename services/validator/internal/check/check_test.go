package check

import (
	"net/netip"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	projects := func(id string) (string, bool) {
		ws, ok := map[string]string{"p1": "ws", "p2": "ws", "px": "other"}[id]
		return ws, ok
	}
	wsToken := func(edit func(*gatepassv1.Token)) *gatepassv1.Token {
		tk := &gatepassv1.Token{
			WorkspaceId: "ws", Role: gatepassv1.Role_ROLE_TESTER,
			Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, ExpireTime: timestamppb.New(now.Add(time.Second)),
		}
		if edit != nil {
			edit(tk)
		}
		return tk
	}
	v4 := netip.MustParseAddr("10.1.2.3")
	v6 := netip.MustParseAddr("2001:db8::7")
	tests := []struct {
		name string
		tok  *gatepassv1.Token
		req  Request
		at   time.Time
		want gatepassv1.Reason
	}{
		{"active", wsToken(nil), Request{}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"disabled", wsToken(func(t *gatepassv1.Token) { t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED }), Request{}, now, gatepassv1.Reason_REASON_DISABLED},
		{"revoked", wsToken(func(t *gatepassv1.Token) { t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED }), Request{}, now, gatepassv1.Reason_REASON_REVOKED},
		{"expires at the instant", wsToken(nil), Request{}, now.Add(time.Second), gatepassv1.Reason_REASON_EXPIRED},
		{"just before expiry", wsToken(nil), Request{}, now.Add(time.Second - time.Nanosecond), gatepassv1.Reason_REASON_ACTIVE},
		{"never expires", wsToken(func(t *gatepassv1.Token) { t.ExpireTime, t.NeverExpires = nil, true }), Request{}, now.Add(1000 * time.Hour), gatepassv1.Reason_REASON_ACTIVE},
		{"workspace token in its project", wsToken(nil), Request{ProjectID: "p2"}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"workspace token in other workspace", wsToken(nil), Request{ProjectID: "px"}, now, gatepassv1.Reason_REASON_WRONG_PROJECT},
		{"unknown project", wsToken(nil), Request{ProjectID: "nope"}, now, gatepassv1.Reason_REASON_WRONG_PROJECT},
		{"project token in own project", wsToken(func(t *gatepassv1.Token) { t.ProjectId = "p1" }), Request{ProjectID: "p1"}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"project token elsewhere", wsToken(func(t *gatepassv1.Token) { t.ProjectId = "p1" }), Request{ProjectID: "p2"}, now, gatepassv1.Reason_REASON_WRONG_PROJECT},
		{"role enough", wsToken(nil), Request{MinRole: gatepassv1.Role_ROLE_TESTER}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"role too low", wsToken(nil), Request{MinRole: gatepassv1.Role_ROLE_MAINTAINER}, now, gatepassv1.Reason_REASON_INSUFFICIENT_ROLE},
		{"ipv4 allowed", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"10.0.0.0/8"} }), Request{ClientIP: v4}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"ipv4-mapped allowed", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"10.0.0.0/8"} }), Request{ClientIP: netip.AddrFrom16(v4.As16())}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"ipv6 allowed", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"10.0.0.0/8", "2001:db8::/32"} }), Request{ClientIP: v6}, now, gatepassv1.Reason_REASON_ACTIVE},
		{"ip outside", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"192.168.0.0/16"} }), Request{ClientIP: v4}, now, gatepassv1.Reason_REASON_IP_NOT_ALLOWED},
		{"ip unknown", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"10.0.0.0/8"} }), Request{}, now, gatepassv1.Reason_REASON_IP_NOT_ALLOWED},
		{"no cidr parses", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"not-a-network"} }), Request{ClientIP: v4}, now, gatepassv1.Reason_REASON_IP_NOT_ALLOWED},
		{"unmasked cidr", wsToken(func(t *gatepassv1.Token) { t.AllowedCidrs = []string{"10.1.2.99/24"} }), Request{ClientIP: v4}, now, gatepassv1.Reason_REASON_ACTIVE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := ScopeOf(tt.tok)
			tok := NewToken(tt.tok, &sc)
			if got := Decide(&tok, tt.req, projects, tt.at); got != tt.want {
				t.Fatalf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}
