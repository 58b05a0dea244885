package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/notify"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// noticesOf returns the types of the notices queued for a webhook, oldest
// first.
func noticesOf(t *testing.T, s *Service, owner access.Principal, hook string) []string {
	t.Helper()
	ds, err := s.Deliveries(owner, hook, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- {
		out = append(out, ds[i].GetType())
	}
	return out
}

// TestNoticesAreQueuedWithTheirChange: a revoke queues token.revoked for a
// subscribed endpoint (and for NATS) in its own transaction; a token
// created to expire in 40 days gets token.expiring at 30, 7 and 1 days
// before, and token.expired, as the clock passes them.
func TestNoticesAreQueuedWithTheirChange(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	// A literal public address: nothing here delivers, so nothing is sent.
	w, secret, err := s.CreateWebhook(context.Background(), owner, "https://203.0.113.10/hooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.ParseSecret(secret); err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	c, err := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER,
		ExpireTime: timestamppb.New(clk.Now().Add(40 * day))})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	for _, step := range []struct {
		after time.Duration
		adds  string
	}{
		{9 * day, ""},
		{day + time.Minute, "token.expiring"}, // 30 days before
		{22 * day, ""},
		{day, "token.expiring"},     // 7 days before
		{6 * day, "token.expiring"}, // 1 day before
		{day, "token.expired"},
	} {
		clk.Add(step.after)
		if err := s.ApplyDue(); err != nil {
			t.Fatal(err)
		}
		if step.adds != "" {
			want = append(want, step.adds)
		}
		if got := noticesOf(t, s, owner, w.GetId()); len(got) != len(want) {
			t.Fatalf("after %v: notices %v, want %v", step.after, got, want)
		}
	}
	if _, err := s.Change(owner, c.Token.GetId(), "retired", access.Revoke); err != nil {
		t.Fatal(err)
	}
	got := noticesOf(t, s, owner, w.GetId())
	if got[len(got)-1] != "token.revoked" {
		t.Fatalf("notices %v", got)
	}
	// The body names the token and the reason, and holds no secret.
	ds, _ := s.Deliveries(owner, w.GetId(), 1)
	var body struct {
		Type string
		Data struct {
			TokenID string `json:"token_id"`
			Reason  string
		}
	}
	_ = s.Store.View(func(tx *store.Tx) error {
		n, err := tx.NoticeByID(ds[0].GetNoticeId())
		if err == nil {
			err = json.Unmarshal(n.GetBody(), &body)
		}
		return err
	})
	if body.Type != "token.revoked" || body.Data.TokenID != c.Token.GetId() || body.Data.Reason != "retired" {
		t.Fatalf("body %+v", body)
	}
	if due, _ := s.Store.DueDeliveries(clk.Now(), 100); len(due) != 5 {
		t.Fatalf("due deliveries %d: want one per notice to the endpoint", len(due))
	}
	if onNATS, _ := s.Store.NoticesAfter(100); len(onNATS) != 5 {
		t.Fatalf("notices for NATS %d, want 5", len(onNATS))
	}
}

// TestWebhookTargetsAreChecked: internal targets are refused unless the
// policy allows private targets, and only workspace admins manage webhooks.
func TestWebhookTargetsAreChecked(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	for _, url := range []string{
		"https://127.0.0.1/h", "https://169.254.169.254/latest", "https://[fd00:ec2::254]/", "https://10.1.2.3/",
		"https://localhost/h", "http://203.0.113.10/h", "https://user:pw@203.0.113.10/h", "ftp://203.0.113.10/",
	} {
		var v *policy.Violation
		if _, _, err := s.CreateWebhook(context.Background(), owner, url, nil); !errors.As(err, &v) || v.Field != "url" {
			t.Errorf("%s: %v", url, err)
		}
	}
	if _, err := s.SetPolicy(owner, &gatepassv1.Policy{AllowPrivateWebhookTargets: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateWebhook(context.Background(), owner, "http://127.0.0.1:9/h", nil); err != nil {
		t.Fatalf("private target with the policy allowing it: %v", err)
	}
	project := owner
	project.ProjectID = "prj_0000000000000000000000"
	if _, _, err := s.CreateWebhook(context.Background(), project, "https://203.0.113.10/h", nil); !errors.Is(err, access.ErrForbidden) {
		t.Fatalf("project token: %v", err)
	}
}
