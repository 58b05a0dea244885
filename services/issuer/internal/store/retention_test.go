package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestPruneAuditKeepsLifecycleRecords: attempt records past the retention
// go; lifecycle records stay for good, and a second pass looks only at
// what is new.
func TestPruneAuditKeepsLifecycleRecords(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	s := openTestStoreAt(t, clk.Now)
	write := func(action string) {
		if err := s.Update(func(tx *Tx) error { return tx.Audit(&gatepassv1.AuditEvent{WorkspaceId: "ws", Action: action}) }); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		write("token.attempt")
		write("token.revoke")
	}
	clk.Add(48 * time.Hour)
	write("token.attempt") // recent: kept
	deleted, _, err := s.PruneAudit("token.attempt", clk.Now().Add(-24*time.Hour), 2)
	if err != nil || deleted != 1 {
		t.Fatalf("first pass (limit 2): %d, %v", deleted, err)
	}
	for {
		n, more, err := s.PruneAudit("token.attempt", clk.Now().Add(-24*time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
		if !more {
			break
		}
	}
	if deleted != 3 {
		t.Fatalf("deleted %d attempt records, want 3", deleted)
	}
	var actions []string
	_ = s.View(func(tx *Tx) error {
		return tx.ScanAudit("ws", "", func(a *gatepassv1.AuditEvent) bool { actions = append(actions, a.GetAction()); return true })
	})
	if len(actions) != 4 || actions[0] != "token.attempt" {
		t.Fatalf("kept %v", actions)
	}
}

func openTestStoreAt(t testing.TB, now func() time.Time) *Store {
	t.Helper()
	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	s, err := Open(filepath.Join(t.TempDir(), "issuer.db"), signer, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
