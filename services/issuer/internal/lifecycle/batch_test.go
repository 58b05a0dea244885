package lifecycle

import (
	"strings"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// TestBatchByFilter: validate_only lists and changes nothing; the batch
// then revokes what the filter matches in one transaction, leaves out
// tokens already revoked and tokens the filter does not match, and is
// audited as one action listing every token.
func TestBatchByFilter(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	ids := map[string]string{}
	for _, name := range []string{"legacy-sync-a", "legacy-sync-b", "legacy-sync-c", "ci-regression-runner"} {
		c, err := s.Create(owner, NewToken{Name: name, Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = c.Token.GetId()
	}
	if _, err := s.Change(owner, ids["legacy-sync-c"], "", access.Revoke); err != nil {
		t.Fatal(err)
	}
	filter := &gatepassv1.TokenFilter{NamePrefix: "legacy-"}
	dry, err := s.BatchChange(owner, access.Revoke, Batch{Filter: filter, ValidateOnly: true})
	if err != nil || len(dry.Tokens) != 2 || dry.EventID != "" {
		t.Fatalf("validate_only: %v, %d tokens, event %q", err, len(dry.Tokens), dry.EventID)
	}
	if tokenOf(t, s, ids["legacy-sync-a"]).GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("validate_only changed a token")
	}
	done, err := s.BatchChange(owner, access.Revoke, Batch{Filter: filter, Reason: "retire the legacy sync"})
	if err != nil || len(done.Tokens) != 2 || done.EventID == "" {
		t.Fatalf("batch: %v, %d tokens, event %q", err, len(done.Tokens), done.EventID)
	}
	for name, id := range ids {
		want := gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
		if name == "ci-regression-runner" {
			want = gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
		}
		if got := tokenOf(t, s, id).GetStatus(); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	var batches []*gatepassv1.AuditEvent
	_ = s.Store.View(func(tx *store.Tx) error {
		return tx.ScanAudit(owner.WorkspaceID, "", func(a *gatepassv1.AuditEvent) bool {
			if a.GetAction() == "token.batch_revoke" {
				batches = append(batches, a)
			}
			return true
		})
	})
	if len(batches) != 1 || !strings.Contains(batches[0].GetDetails()["tokens"], ids["legacy-sync-a"]) ||
		!strings.Contains(batches[0].GetDetails()["tokens"], ids["legacy-sync-b"]) || batches[0].GetDetails()["count"] != "2" {
		t.Fatalf("batch audit records: %v", batches)
	}
	// Named ids: one that does not exist fails the whole batch.
	if _, err := s.BatchChange(owner, access.Disable, Batch{IDs: []string{ids["ci-regression-runner"], "tok_0000000000000000000000"}}); err == nil {
		t.Fatal("a batch naming an unknown token succeeded")
	}
	if tokenOf(t, s, ids["ci-regression-runner"]).GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("a failed batch changed a token")
	}
}
