package usage_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"
	"github.com/gatepass/gatepass/services/issuer/internal/usage"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestCanaryNotice: a report of attempts with a revoked token queues one
// token.attempt notice (the canary: something still holds the token); a
// report of ordinary use queues none.
func TestCanaryNotice(t *testing.T) {
	t.Parallel()
	st, _ := storetest.Open(t, time.Now)
	life := &lifecycle.Service{Store: st, Now: time.Now}
	owner := issuertest.Owner(t, life)
	hook, _, err := life.CreateWebhook(context.Background(), owner, "https://203.0.113.10/hooks", []gatepassv1.NoticeType{gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_ATTEMPT})
	if err != nil {
		t.Fatal(err)
	}
	c, err := life.Create(owner, lifecycle.NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	in := &usage.Ingester{Store: st, Now: time.Now, Canary: life.AttemptNotice}
	report := func(reasons ...gatepassv1.Reason) {
		tu := &gatepassv1.TokenUsage{TokenId: c.Token.GetId(), UseCount: 1, LastUsedTime: timestamppb.Now()}
		for i, r := range reasons {
			tu.Attempts = append(tu.Attempts, &gatepassv1.Attempt{Reason: r, LastTime: timestamppb.Now(), ClientIp: "10.0.0." + string(rune('1'+i)), Count: 2})
		}
		if err := in.Ingest(&gatepassv1.UsageReport{ValidatorId: "v1", Tokens: []*gatepassv1.TokenUsage{tu}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		ds, err := life.Deliveries(owner, hook.GetId(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	report()
	if n := count(); n != 0 {
		t.Fatalf("ordinary use queued %d notices", n)
	}
	if _, err := life.Change(owner, c.Token.GetId(), "", access.Revoke); err != nil {
		t.Fatal(err)
	}
	report(gatepassv1.Reason_REASON_REVOKED, gatepassv1.Reason_REASON_REVOKED)
	if n := count(); n != 1 {
		t.Fatalf("attempts with a revoked token queued %d notices, want 1", n)
	}
}
