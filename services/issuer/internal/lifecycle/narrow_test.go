package lifecycle

import (
	"errors"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestNarrowingOnlyNarrows: every narrowing UpdateToken takes is applied
// with an event to wait for; anything that widens is refused naming the
// field, and leaves the token as it was.
func TestNarrowingOnlyNarrows(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	prj, err := s.CreateProject(owner, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateProject(owner, "billing")
	if err != nil {
		t.Fatal(err)
	}
	in := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(clk.Now().Add(d)) }
	c, err := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_MAINTAINER,
		ExpireTime: in(30 * 24 * time.Hour), AllowedCIDRs: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Token.GetId()
	tests := []struct {
		name  string
		path  string
		n     Narrowing
		field string // "" when it narrows
	}{
		{"raise role", "role", Narrowing{Role: gatepassv1.Role_ROLE_ADMIN}, "role"},
		{"lower role", "role", Narrowing{Role: gatepassv1.Role_ROLE_TESTER}, ""},
		{"network outside", "allowed_cidrs", Narrowing{AllowedCIDRs: []string{"10.1.0.0/16", "192.168.0.0/16"}}, "allowed_cidrs[1]"},
		{"every network", "allowed_cidrs", Narrowing{AllowedCIDRs: []string{}}, "allowed_cidrs"},
		{"network inside", "allowed_cidrs", Narrowing{AllowedCIDRs: []string{"10.1.0.0/16"}}, ""},
		{"later expiry", "expire_time", Narrowing{ExpireTime: in(60 * 24 * time.Hour)}, "expire_time"},
		{"earlier expiry", "expire_time", Narrowing{ExpireTime: in(7 * 24 * time.Hour)}, ""},
		{"into a project", "project_id", Narrowing{ProjectID: prj.GetId()}, ""},
		{"to another project", "project_id", Narrowing{ProjectID: other.GetId()}, "project_id"},
	}
	for _, tt := range tests {
		before := tokenOf(t, s, id)
		u, err := s.Update(owner, Update{TokenID: id, Paths: []string{tt.path}, Narrowing: tt.n})
		var v *policy.Violation
		switch {
		case tt.field == "" && (err != nil || u.EventID == ""):
			t.Fatalf("%s: %v, event %q", tt.name, err, u.EventID)
		case tt.field != "" && (!errors.As(err, &v) || v.Field != tt.field):
			t.Fatalf("%s: err = %v, want a violation of %s", tt.name, err, tt.field)
		case tt.field != "" && tokenOf(t, s, id).GetVersion() != before.GetVersion():
			t.Fatalf("%s: a refused widening changed the token", tt.name)
		}
	}
	got := tokenOf(t, s, id)
	if got.GetRole() != gatepassv1.Role_ROLE_TESTER || got.GetProjectId() != prj.GetId() || got.GetAllowedCidrs()[0] != "10.1.0.0/16" {
		t.Fatalf("after narrowing: %v", got)
	}
	// A rotation's replacement narrows by the same rules.
	if _, err := s.Rotate(owner, Rotation{TokenID: id, Narrowing: Narrowing{Role: gatepassv1.Role_ROLE_ADMIN}}); err == nil {
		t.Fatal("a rotation raised the role")
	}
	r, err := s.Rotate(owner, Rotation{TokenID: id, Narrowing: Narrowing{Role: gatepassv1.Role_ROLE_VIEWER, AllowedCIDRs: []string{"10.1.2.0/24"}}})
	if err != nil || r.Token.GetRole() != gatepassv1.Role_ROLE_VIEWER || r.Token.GetAllowedCidrs()[0] != "10.1.2.0/24" {
		t.Fatalf("narrowed rotation: %v %v", r.Token, err)
	}
}

func tokenOf(t *testing.T, s *Service, id string) *gatepassv1.Token {
	t.Helper()
	var out *gatepassv1.Token
	if err := s.Store.View(func(tx *store.Tx) error {
		st, err := tx.Token(id)
		out = st.GetToken()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
