package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// hookReceiver is a customer's webhook endpoint on loopback: it checks
// every Standard Webhooks signature with its own HMAC-SHA256 and keeps the
// notices it accepted.
type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	key []byte
	got []receivedNotice
}

type receivedNotice struct {
	ID   string
	Type string
	Data map[string]any
}

func newHookReceiver(t *testing.T, addr string) *hookReceiver {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{t: t}
	r.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-signature")
	ts, err := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || len(r.key) == 0 || sig != standardSignature(r.key, id, ts, body) {
		r.t.Errorf("notice %s: bad signature", id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n receivedNotice
	if err := json.Unmarshal(body, &n); err != nil {
		r.t.Errorf("notice %s: %v", id, err)
	}
	n.ID = id
	r.got = append(r.got, n)
	w.WriteHeader(http.StatusNoContent)
}

func (r *hookReceiver) setSecret(t *testing.T, secret string) {
	t.Helper()
	key, err := parseWebhookSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.key = key
	r.mu.Unlock()
}

// count returns how many notices of type typ about token arrived.
func (r *hookReceiver) count(typ, token string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.got {
		if x.Type == typ && x.Data["token_id"] == token {
			n++
		}
	}
	return n
}

// TestWebhookNotices: real issuer and validator processes. A receiver gets
// a signed token.expiring for a token created inside the notice window and
// a signed token.revoked after RevokeToken (also on NATS); an endpoint that
// was down while three revocations happened gets all three once it comes
// back, after an issuer restart, the oldest after retries.
func TestWebhookNotices(t *testing.T) {
	w := newWorld(t)
	ns := startNATS(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "issuer")
	env := map[string]string{"GATEPASS_WEBHOOK_RETRY_BASE": "300ms"}
	iss := w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data, env: env})
	admin := iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	ic := issuerClient(t, iss)
	wc := gatepassv1.NewWorkspaceServiceClient(dial(t, iss.vars["GATEPASS_ISSUER_ADDR"]))
	// The receivers are on loopback: the policy must allow private targets.
	if _, err := wc.UpdatePolicy(authed(t, admin), &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{
		AllowPrivateWebhookTargets: true, ExpiryNoticeDays: []int32{1},
	}}); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	onNATS := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe("gatepass.notice.>", onNATS); err != nil {
		t.Fatal(err)
	}

	up := newHookReceiver(t, "127.0.0.1:0")
	hook, err := wc.CreateWebhook(authed(t, admin), &gatepassv1.CreateWebhookRequest{Url: up.srv.URL + "/gatepass"})
	if err != nil {
		t.Fatal(err)
	}
	up.setSecret(t, w.secret(hook.GetSecret()))

	soon := w.createTokenWith(ic, admin, &gatepassv1.CreateTokenRequest{
		Name: "hourly-export", Role: gatepassv1.Role_ROLE_VIEWER, ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
	})
	eventually(t, 10*time.Second, "token.expiring delivered", func() bool { return up.count("token.expiring", soon.GetToken().GetId()) == 1 })

	gone := w.createToken(ic, admin, "ci-regression-runner", gatepassv1.Role_ROLE_TESTER)
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: gone.GetToken().GetId(), Reason: "retired"}); err != nil {
		t.Fatal(err)
	}
	if got := reason(t, vc, gone.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("validator after the revoke: %s", got)
	}
	eventually(t, 10*time.Second, "token.revoked delivered", func() bool { return up.count("token.revoked", gone.GetToken().GetId()) == 1 })
	eventually(t, 5*time.Second, "token.revoked on NATS", func() bool {
		for {
			select {
			case m := <-onNATS:
				var n receivedNotice
				if json.Unmarshal(m.Data, &n) == nil && n.Type == "token.revoked" {
					return true
				}
			default:
				return false
			}
		}
	})

	// An endpoint that is down: reserve its address, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := l.Addr().String()
	l.Close()
	down, err := wc.CreateWebhook(authed(t, admin), &gatepassv1.CreateWebhookRequest{
		Url: "http://" + downAddr + "/gatepass", Types: []gatepassv1.NoticeType{gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_REVOKED},
	})
	if err != nil {
		t.Fatal(err)
	}
	var revoked []string
	for _, name := range []string{"nightly-test-sync", "release-smoke-tests", "staging-deployer"} {
		c := w.createToken(ic, admin, name, gatepassv1.Role_ROLE_TESTER)
		if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: c.GetToken().GetId(), Reason: "rotation"}); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, c.GetToken().GetId())
	}
	eventually(t, 10*time.Second, "failed attempts at the endpoint that is down", func() bool {
		ds, err := wc.ListWebhookDeliveries(authed(t, admin), &gatepassv1.ListWebhookDeliveriesRequest{WebhookId: down.GetWebhook().GetId()})
		return err == nil && len(ds.GetDeliveries()) == 3 && ds.GetDeliveries()[2].GetAttempts() >= 1 &&
			ds.GetDeliveries()[2].GetState() == gatepassv1.DeliveryState_DELIVERY_STATE_PENDING
	})

	iss.stop(t)
	iss = w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: data, env: env})
	back := newHookReceiver(t, downAddr)
	back.setSecret(t, w.secret(down.GetSecret()))
	for _, id := range revoked {
		eventually(t, 30*time.Second, "token.revoked delivered after the restart", func() bool { return back.count("token.revoked", id) == 1 })
	}
	wc = gatepassv1.NewWorkspaceServiceClient(dial(t, iss.vars["GATEPASS_ISSUER_ADDR"]))
	ds, err := wc.ListWebhookDeliveries(authed(t, admin), &gatepassv1.ListWebhookDeliveriesRequest{WebhookId: down.GetWebhook().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	oldest := ds.GetDeliveries()[len(ds.GetDeliveries())-1]
	if oldest.GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_DELIVERED || oldest.GetAttempts() < 2 {
		t.Fatalf("oldest delivery: %v", oldest)
	}
}

// standardSignature is the receiver's own Standard Webhooks check, written
// from the specification, not taken from the issuer's code.
func standardSignature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func parseWebhookSecret(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
}
