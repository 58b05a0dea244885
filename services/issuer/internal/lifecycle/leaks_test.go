package lifecycle

import (
	"crypto/sha256"
	"strings"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// TestLeakReports: a secret proves possession, so anyone's report revokes
// the token; a digest acts only for callers who could revoke it; the
// workspace may disable instead; a repeated report changes nothing; the
// secret reaches no audit record.
func TestLeakReports(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	mk := func(name string) Created {
		c, err := s.Create(owner, NewToken{Name: name, Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := mk("ci-regression-runner"), mk("nightly-test-sync")
	stranger := access.Principal{WorkspaceID: "ws_elsewhere", Role: access.RoleViewer}
	digest := func(secret string) []byte { d := sha256.Sum256([]byte(secret)); return d[:] }

	out, err := s.ReportLeaks(stranger, Leak{Secrets: []string{a.Secret, "gp_not-a-token"}, Digests: [][]byte{digest(b.Secret)}, SourceURL: "https://example.com/paste/1"})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Results
	if !r[0].GetFound() || r[0].GetAction() != gatepassv1.LeakAction_LEAK_ACTION_REVOKE || r[1].GetFound() || r[2].GetFound() || out.EventID == "" {
		t.Fatalf("results %v", r)
	}
	if tokenOf(t, s, b.Token.GetId()).GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("a stranger's digest changed a token")
	}
	if _, err := s.SetPolicy(owner, &gatepassv1.Policy{LeakAction: gatepassv1.LeakAction_LEAK_ACTION_DISABLE}); err != nil {
		t.Fatal(err)
	}
	out, err = s.ReportLeaks(owner, Leak{Digests: [][]byte{digest(b.Secret)}, SourceURL: "https://example.com/paste/2"})
	if err != nil || out.Results[0].GetAction() != gatepassv1.LeakAction_LEAK_ACTION_DISABLE ||
		tokenOf(t, s, b.Token.GetId()).GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED {
		t.Fatalf("owner's digest under a disable policy: %v %v", out.Results, err)
	}
	out, err = s.ReportLeaks(owner, Leak{Secrets: []string{a.Secret}})
	if err != nil || out.Results[0].GetAction() != gatepassv1.LeakAction_LEAK_ACTION_NONE || out.EventID != "" {
		t.Fatalf("a revoked token reported again: %v %v", out, err)
	}
	_ = s.Store.View(func(tx *store.Tx) error {
		return tx.ScanAudit(owner.WorkspaceID, "", func(e *gatepassv1.AuditEvent) bool {
			if strings.Contains(e.String(), a.Secret) || strings.Contains(e.String(), b.Secret) {
				t.Errorf("audit record %s holds a secret", e.GetAction())
			}
			return true
		})
	})
}
