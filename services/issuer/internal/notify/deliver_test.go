package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/notify"
	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"
)

// receiver is a webhook endpoint on loopback that checks signatures with
// its own HMAC, as a customer's would.
type receiver struct {
	srv    *httptest.Server
	key    []byte
	mu     sync.Mutex
	got    []string // notice types, in arrival order
	ids    []string
	status int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusNoContent}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		if want := notify.Sign(r.key, req.Header.Get("webhook-id"), ts, body); req.Header.Get("webhook-signature") != want {
			t.Errorf("bad signature %q", req.Header.Get("webhook-signature"))
		}
		var n struct{ Type string }
		_ = json.Unmarshal(body, &n)
		r.got = append(r.got, n.Type)
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

type world struct {
	life  *lifecycle.Service
	d     *notify.Deliverer
	owner access.Principal
	clk   *fakeclock.Clock
	nats  []string
}

func newWorld(t *testing.T, allowPrivate bool) *world {
	t.Helper()
	clk := fakeclock.New(time.Now())
	st, _ := storetest.Open(t, clk.Now)
	w := &world{clk: clk, life: &lifecycle.Service{Store: st, Now: clk.Now}}
	w.d = &notify.Deliverer{Store: st, Now: clk.Now, RetryBase: time.Minute, RetryWindow: time.Hour,
		Publish: func(subject string, _ []byte) error { w.nats = append(w.nats, subject); return nil }}
	w.owner = issuertest.Owner(t, w.life)
	if _, err := w.life.SetPolicy(w.owner, &gatepassv1.Policy{AllowPrivateWebhookTargets: allowPrivate}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) hook(t *testing.T, r *receiver) string {
	t.Helper()
	hook, secret, err := w.life.CreateWebhook(context.Background(), w.owner, r.srv.URL+"/hooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.key, _ = notify.ParseSecret(secret)
	return hook.GetId()
}

func (w *world) revokeOne(t *testing.T, name string) {
	t.Helper()
	c, err := w.life.Create(w.owner, lifecycle.NewToken{Name: name, Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.life.Change(w.owner, c.Token.GetId(), "retired", access.Revoke); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveriesAreSignedAndRetried: a revoke reaches the endpoint signed
// (and NATS); an endpoint answering 500 is retried with backoff, keeps its
// webhook-id across attempts, and is marked failed after the window.
func TestDeliveriesAreSignedAndRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	r := newReceiver(t)
	hook := w.hook(t, r)
	w.revokeOne(t, "ci-regression-runner")
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.received(); len(got) != 1 || got[0] != "token.revoked" {
		t.Fatalf("received %v", got)
	}
	if len(w.nats) != 1 || w.nats[0] != notify.Subject(w.owner.WorkspaceID) {
		t.Fatalf("NATS got %v", w.nats)
	}

	r.mu.Lock()
	r.status = http.StatusInternalServerError
	r.mu.Unlock()
	w.revokeOne(t, "nightly-test-sync")
	for range 4 {
		if _, err := w.d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.clk.Add(20 * time.Minute) // past the backoff of the first retries
	}
	r.mu.Lock()
	attempts, ids := len(r.got)-1, r.ids[1:]
	r.mu.Unlock()
	if attempts < 2 {
		t.Fatalf("%d attempts at a failing endpoint", attempts)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("webhook-id changed across retries: %v", ids)
		}
	}
	w.clk.Add(2 * time.Hour)
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds, err := w.life.Deliveries(w.owner, hook, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_FAILED || ds[0].GetLastStatus() != 500 ||
		ds[1].GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_DELIVERED {
		t.Fatalf("deliveries %v", ds)
	}
}

// TestInternalTargetsAreRefusedAtConnect: an endpoint registered while the
// policy allowed private targets is not reached once it no longer does:
// the dialer checks every connection.
func TestInternalTargetsAreRefusedAtConnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	r := newReceiver(t)
	hook := w.hook(t, r)
	if _, err := w.life.SetPolicy(w.owner, &gatepassv1.Policy{}); err != nil {
		t.Fatal(err)
	}
	w.revokeOne(t, "ci-regression-runner")
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.received(); len(got) != 0 {
		t.Fatalf("an internal endpoint was reached: %v", got)
	}
	ds, _ := w.life.Deliveries(w.owner, hook, 1)
	if ds[0].GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_PENDING || ds[0].GetAttempts() != 1 {
		t.Fatalf("delivery %v", ds[0])
	}
}

// TestPruneNotices: notices and finished deliveries past the retention are
// pruned; newer ones, and their listing, stay.
func TestPruneNotices(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	r := newReceiver(t)
	hook := w.hook(t, r)
	w.revokeOne(t, "ci-regression-runner")
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.clk.Add(31 * 24 * time.Hour)
	w.revokeOne(t, "nightly-test-sync") // pending: not yet delivered
	n, more, err := w.life.Store.PruneNotices(w.clk.Now().Add(-30*24*time.Hour), 1000)
	if err != nil || n == 0 || more {
		t.Fatalf("pruned %d (more %v): %v", n, more, err)
	}
	ds, err := w.life.Deliveries(w.owner, hook, 10)
	if err != nil || len(ds) != 1 || ds[0].GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_PENDING {
		t.Fatalf("after pruning: %v %v", ds, err)
	}
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.received(); len(got) != 2 {
		t.Fatalf("received %v", got)
	}
}

// TestNATSNoticesResumeInOrder: notices go on NATS in order; one that
// cannot be published is retried, with those after it, next round.
func TestNATSNoticesResumeInOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t, true)
	var sent []string
	fail := true
	w.d.Publish = func(_ string, body []byte) error {
		if fail {
			return errors.New("NATS unreachable")
		}
		var n struct{ Data struct{ Name string } }
		_ = json.Unmarshal(body, &n)
		sent = append(sent, n.Data.Name)
		return nil
	}
	w.revokeOne(t, "first-runner")
	w.revokeOne(t, "second-runner")
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	fail = false
	if _, err := w.d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.d.Round(context.Background()); err != nil { // nothing left: no repeats
		t.Fatal(err)
	}
	if len(sent) != 2 || sent[0] != "first-runner" || sent[1] != "second-runner" {
		t.Fatalf("sent %v", sent)
	}
}
