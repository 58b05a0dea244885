package usage

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	u := &gatepassv1.TokenUsage{TokenId: "tok_1"}
	Merge(u, &gatepassv1.TokenUsage{UseCount: 5, LastUsedTime: at(time.Minute), LastUsedIp: "10.0.0.1", Sources: []string{"10.0.0.1"},
		MaxRoleNeeded: gatepassv1.Role_ROLE_VIEWER,
		Attempts:      []*gatepassv1.Attempt{{Reason: gatepassv1.Reason_REASON_DISABLED, ClientIp: "10.0.0.9", Count: 2, LastTime: at(0)}}})
	// A late report from another validator: older last use must not win.
	Merge(u, &gatepassv1.TokenUsage{UseCount: 3, LastUsedTime: at(0), LastUsedIp: "10.0.0.2", Sources: []string{"10.0.0.2", "10.0.0.1"},
		MaxRoleNeeded: gatepassv1.Role_ROLE_TESTER,
		Attempts:      []*gatepassv1.Attempt{{Reason: gatepassv1.Reason_REASON_DISABLED, ClientIp: "10.0.0.9", Count: 1, LastTime: at(time.Hour)}}})
	if u.GetUseCount() != 8 || u.GetLastUsedIp() != "10.0.0.1" || !u.GetLastUsedTime().AsTime().Equal(t0.Add(time.Minute)) {
		t.Fatalf("last use: %v", u)
	}
	if len(u.GetSources()) != 2 || u.GetMaxRoleNeeded() != gatepassv1.Role_ROLE_TESTER {
		t.Fatalf("sources or role: %v", u)
	}
	if len(u.GetAttempts()) != 1 || u.GetAttempts()[0].GetCount() != 3 || !u.GetAttempts()[0].GetLastTime().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("attempts: %v", u.GetAttempts())
	}
	// Bounds: the most recent sources and attempts are kept.
	for i := range 100 {
		ip := fmt.Sprintf("10.1.0.%d", i)
		Merge(u, &gatepassv1.TokenUsage{Sources: []string{ip}, Attempts: []*gatepassv1.Attempt{{Reason: gatepassv1.Reason_REASON_REVOKED, ClientIp: ip, Count: 1, LastTime: at(time.Duration(i) * time.Hour)}}})
	}
	if len(u.GetSources()) != MaxSources || u.GetSources()[MaxSources-1] != "10.1.0.99" {
		t.Fatalf("sources not bounded to the most recent: %d, last %s", len(u.GetSources()), u.GetSources()[len(u.GetSources())-1])
	}
	if len(u.GetAttempts()) != MaxAttempts {
		t.Fatalf("attempts not bounded: %d", len(u.GetAttempts()))
	}
	// Negative counts from a broken validator do not subtract.
	Merge(u, &gatepassv1.TokenUsage{UseCount: -50})
	if u.GetUseCount() != 8 {
		t.Fatalf("negative count applied: %d", u.GetUseCount())
	}
}

// TestHostileReportCostsLittle: a report with thousands of distinct
// attempt addresses, garbage addresses and absurd counts for one token is
// folded to a few entries, keeps only IP addresses, and writes a bounded
// number of audit records (the first version wrote one per attempt).
func TestHostileReportCostsLittle(t *testing.T) {
	t.Parallel()
	seed, _ := event.GenerateSeed()
	signer, _ := event.NewSigner(seed)
	st, err := store.Open(filepath.Join(t.TempDir(), "issuer.db"), signer, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := make([]byte, 32)
	if err := st.Update(func(tx *store.Tx) error {
		_, err := tx.PutToken(&gatepassv1.TokenState{Token: &gatepassv1.Token{Id: "tok_1", WorkspaceId: "ws_1"}, SecretSha256: d})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tu := &gatepassv1.TokenUsage{TokenId: "tok_1", UseCount: 1 << 62, LastUsedIp: "not-an-ip", Sources: []string{"10.0.0.1", "<script>", "::ffff:10.0.0.2"}}
	for i := range 5000 {
		tu.Attempts = append(tu.Attempts, &gatepassv1.Attempt{Reason: gatepassv1.Reason_REASON_REVOKED, ClientIp: fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256), Count: 1 << 50, LastTime: timestamppb.Now()})
	}
	tu.Attempts = append(tu.Attempts, &gatepassv1.Attempt{Reason: gatepassv1.Reason(999), ClientIp: "10.9.9.9", Count: 1})
	in := &Ingester{Store: st, Now: time.Now}
	for range 3 {
		if err := in.Ingest(&gatepassv1.UsageReport{ValidatorId: "v", Tokens: []*gatepassv1.TokenUsage{tu}}); err != nil {
			t.Fatal(err)
		}
	}
	var u *gatepassv1.TokenUsage
	audits := 0
	err = st.View(func(tx *store.Tx) (err error) {
		if u, err = tx.Usage("tok_1"); err != nil {
			return err
		}
		return tx.ScanAudit("ws_1", "", func(a *gatepassv1.AuditEvent) bool {
			if a.GetAction() == "token.attempt" {
				audits++
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if audits > auditPerTokenPerMinute {
		t.Fatalf("%d attempt audit records from three reports, want at most %d", audits, auditPerTokenPerMinute)
	}
	if len(u.GetAttempts()) > maxAttemptsPerToken+1 {
		t.Fatalf("%d attempt entries kept", len(u.GetAttempts()))
	}
	if u.GetLastUsedIp() != "" || !slices.Equal(u.GetSources(), []string{"10.0.0.1", "10.0.0.2"}) {
		t.Fatalf("addresses kept: %q %v", u.GetLastUsedIp(), u.GetSources())
	}
	for _, a := range u.GetAttempts() {
		if a.GetCount() <= 0 || a.GetReason() != gatepassv1.Reason_REASON_REVOKED {
			t.Fatalf("attempt %v", a)
		}
	}
	if u.GetUseCount() <= 0 {
		t.Fatalf("use count overflowed: %d", u.GetUseCount())
	}
}
