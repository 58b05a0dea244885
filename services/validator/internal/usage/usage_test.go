package usage

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func TestRecordAndFlush(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Unix(1_000_000, 0))
	r := NewRecorder(clk.Now)
	ip1, ip2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::2")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.Record("tok_a", gatepassv1.Reason_REASON_ACTIVE, ip1, gatepassv1.Role_ROLE_VIEWER)
			}
		})
	}
	wg.Wait()
	clk.Add(time.Second)
	r.Record("tok_a", gatepassv1.Reason_REASON_ACTIVE, ip2, gatepassv1.Role_ROLE_TESTER)
	r.Record("tok_b", gatepassv1.Reason_REASON_REVOKED, ip1, 0)
	r.Record("tok_b", gatepassv1.Reason_REASON_REVOKED, ip1, 0)
	r.Record("tok_b", gatepassv1.Reason_REASON_WRONG_PROJECT, ip1, 0)
	r.Record("", gatepassv1.Reason_REASON_UNKNOWN, ip1, 0)

	rep := r.Flush("v1")
	got := map[string]*gatepassv1.TokenUsage{}
	for _, tu := range rep.GetTokens() {
		got[tu.GetTokenId()] = tu
	}
	a := got["tok_a"]
	if a.GetUseCount() != 801 || a.GetLastUsedIp() != "2001:db8::2" || len(a.GetSources()) != 2 || a.GetMaxRoleNeeded() != gatepassv1.Role_ROLE_TESTER {
		t.Fatalf("tok_a = %v", a)
	}
	if !a.GetLastUsedTime().AsTime().Equal(clk.Now()) {
		t.Fatalf("last used %v", a.GetLastUsedTime().AsTime())
	}
	b := got["tok_b"]
	if b.GetUseCount() != 0 || len(b.GetAttempts()) != 1 || b.GetAttempts()[0].GetCount() != 2 || b.GetAttempts()[0].GetClientIp() != "10.0.0.1" {
		t.Fatalf("tok_b = %v", b)
	}
	if len(got) != 2 {
		t.Fatalf("report has %d tokens, want 2", len(got))
	}
	if r.Flush("v1") != nil {
		t.Fatal("second flush not empty")
	}
}

func TestBounded(t *testing.T) {
	t.Parallel()
	r := NewRecorder(time.Now)
	for i := range 100 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		r.Record("tok_a", gatepassv1.Reason_REASON_ACTIVE, ip, 0)
		r.Record("tok_a", gatepassv1.Reason_REASON_DISABLED, ip, 0)
	}
	tu := r.Flush("v").GetTokens()[0]
	if len(tu.GetSources()) != maxSources || len(tu.GetAttempts()) != maxAttempts || tu.GetUseCount() != 100 {
		t.Fatalf("bounds not kept: %d sources, %d attempts, %d uses", len(tu.GetSources()), len(tu.GetAttempts()), tu.GetUseCount())
	}
}

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(time.Now)
	ip := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record("tok_0Vc7JQYSn25f3IZ3ISy0p6", gatepassv1.Reason_REASON_ACTIVE, ip, gatepassv1.Role_ROLE_TESTER)
		}
	})
}
