package e2e

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// proxy forwards TCP connections to target until cut, which closes every
// connection and refuses new ones: a network partition on loopback.
type proxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newProxy(t *testing.T, target string) *proxy {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target}
	go p.serve()
	t.Cleanup(func() { p.partition(); lis.Close() })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *proxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// heal lets connections through again.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *proxy) url() string { return "nats://" + p.lis.Addr().String() }

// TestRevokeWithAPartitionedValidator checks gatepass's promise when one
// validator has lost NATS: once RevokeToken returns, every validator has
// applied the revocation or refuses to answer. The cut-off validator stops
// counting as live, the receipt says so, and it fails closed.
func TestRevokeWithAPartitionedValidator(t *testing.T) {
	const staleness = time.Second
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	healthy := w.startValidator("healthy", ns.ClientURL(), pub, filepath.Join(dir, "a.db"), staleness)
	link := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	cutoff := w.startValidator("cutoff", link.url(), pub, filepath.Join(dir, "b.db"), staleness)
	ic := issuerClient(t, iss)
	hc, cc := validatorClient(t, healthy), validatorClient(t, cutoff)
	tok := w.createToken(ic, admin, "partition-victim", gatepassv1.Role_ROLE_VIEWER)
	for _, v := range []gatepassv1.ValidatorServiceClient{hc, cc} {
		eventually(t, 10*time.Second, "token valid everywhere", func() bool { return reason(t, v, tok.GetSecret()) == "REASON_ACTIVE" })
	}

	link.partition()
	// Hammer the cut-off validator from now on and remember every answer.
	type answer struct {
		start time.Time
		got   string
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			got := reason(t, cc, tok.GetSecret())
			mu.Lock()
			answers = append(answers, answer{start, got})
			mu.Unlock()
		}
	})
	rev, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: tok.GetToken().GetId(), Reason: "leaked"})
	returned := time.Now()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("receipt: %v", rev.GetReceipt())
	if got := reason(t, hc, tok.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("healthy validator after revoke: %s", got)
	}
	var after, accepted int
	for _, a := range answers {
		if a.start.After(returned) {
			after++
			if a.got == "REASON_ACTIVE" {
				accepted++
			}
		}
	}
	if after == 0 {
		t.Fatal("no validation on the cut-off validator after the revoke")
	}
	if accepted > 0 {
		t.Fatalf("the cut-off validator accepted the revoked token %d times after RevokeToken returned", accepted)
	}
	if got := reason(t, cc, tok.GetSecret()); got != "error:Unavailable" {
		t.Fatalf("cut-off validator: %s, want it to refuse to answer", got)
	}
	// The receipt says what happened: one applied, one refusing, complete.
	if r := rev.GetReceipt(); !r.GetComplete() || r.GetValidatorsApplied() != 1 || r.GetValidatorsRefusing() != 1 {
		t.Fatalf("receipt: %v", r)
	}
}

// TestOnlyKnownValidatorsCount: with GATEPASS_VALIDATOR_KEYS set, the
// issuer believes only reports signed by those keys, so nobody can sway a
// receipt by publishing reports on NATS.
func TestOnlyKnownValidatorsCount(t *testing.T) {
	w := newWorld(t)
	ns := startNATS(t)
	dir := t.TempDir()
	known, err := event.LoadOrCreateSigner(filepath.Join(dir, "known.db.nk"))
	if err != nil {
		t.Fatal(err)
	}
	iss := w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: filepath.Join(dir, "issuer"),
		env: map[string]string{"GATEPASS_VALIDATOR_KEYS": known.PublicKey()}})
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	k := w.startValidator("known", ns.ClientURL(), pub, filepath.Join(dir, "known.db"), 3*time.Second)
	u := w.startValidator("unknown", ns.ClientURL(), pub, filepath.Join(dir, "unknown.db"), 3*time.Second)
	if k.vars["GATEPASS_VALIDATOR_PUBLIC_KEY"] != known.PublicKey() || u.vars["GATEPASS_VALIDATOR_PUBLIC_KEY"] == known.PublicKey() {
		t.Fatalf("validator keys: %q %q", k.vars["GATEPASS_VALIDATOR_PUBLIC_KEY"], u.vars["GATEPASS_VALIDATOR_PUBLIC_KEY"])
	}
	ic := issuerClient(t, iss)
	var r *gatepassv1.PropagationReceipt
	attempt := 0
	eventually(t, 15*time.Second, "known validator live", func() bool {
		attempt++
		r = w.createToken(ic, admin, "counted-"+string(rune('a'+attempt)), gatepassv1.Role_ROLE_VIEWER).GetReceipt()
		return r.GetValidatorsLive() >= 1
	})
	time.Sleep(time.Second) // let the unknown validator report a few times too
	r = w.createToken(ic, admin, "counted-final", gatepassv1.Role_ROLE_VIEWER).GetReceipt()
	if r.GetValidatorsLive() != 1 || !r.GetComplete() {
		t.Fatalf("receipt counts the unknown validator: %v", r)
	}
	if !strings.Contains(iss.stderr.String(), "dropping validator reports") {
		t.Fatal("the issuer did not log the dropped reports")
	}
	// Both validators still validate: only reports are refused.
	uc := validatorClient(t, u)
	eventually(t, 10*time.Second, "unknown validator validates", func() bool { return reason(t, uc, "gp_"+strings.Repeat("A", 36)) == "REASON_MALFORMED" })
}
