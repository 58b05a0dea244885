package usage

import (
	"fmt"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
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
