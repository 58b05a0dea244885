package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// TestChaos is the chaos suite: the issuer, three validators and NATS as
// real processes, a load that hammers every validator while an admin
// creates, disables, enables and revokes tokens, and faults: kill -9 and
// restart of NATS nodes, the issuer and validators (caches kept or lost),
// and validators partitioned from NATS through TCP proxies. It runs twice:
// on a three-node NATS cluster (JetStream R3, sync_interval: always), then
// on a single NATS server that is restarted with its data kept and with
// its data wiped. A checker over the whole history asserts the simulator's
// properties: no validation that starts after a complete disable or revoke
// receipt accepts the token (unless an enable was asked for since), and
// once faults heal every validator answers every token as the issuer
// holds it.
//
// CHAOS_TIME sets the length of the fault phases (default 20s, the short
// variant make test runs); make chaos runs it for 10 minutes.
func TestChaos(t *testing.T) {
	total := 20 * time.Second
	if s := os.Getenv("CHAOS_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("CHAOS_TIME: %v", err)
		}
		total = d
	}
	var sum chaosSummary
	for _, phase := range []struct {
		name  string
		nodes int
		share float64
	}{{"cluster", 3, 0.75}, {"single", 1, 0.25}} {
		t.Run(phase.name, func(t *testing.T) {
			c := newChaos(t, phase.nodes)
			c.run(time.Duration(float64(total) * phase.share))
			sum.add(c.summary)
		})
	}
	fmt.Printf("chaos: %d operations, %d faults, %d violations, converged in %.1fs\n",
		sum.ops, sum.faults, sum.violations, sum.converged.Seconds())
}

type chaosSummary struct {
	ops, faults, violations int64
	converged               time.Duration
}

func (s *chaosSummary) add(o chaosSummary) {
	s.ops += o.ops
	s.faults += o.faults
	s.violations += o.violations
	s.converged = max(s.converged, o.converged)
}

const chaosStaleness = 2 * time.Second

type chaosValidator struct {
	name, cache string
	proxies     []*proxy
	proc        *proc
	addr        atomic.Value // string
}

type chaos struct {
	t         *testing.T
	w         *world
	nats      *natsCluster
	dir       string
	keys      []string
	issuerEnv map[string]string
	issuer    *proc
	issAddr   atomic.Value // string
	admin     string
	pub       string
	vals      []*chaosValidator
	rng       *rand.Rand
	hist      chaosHistory
	summary   chaosSummary
	// tokens are the secrets the load validates, by token id.
	mu      sync.Mutex
	tokens  map[string]string
	idOrder []string
}

func newChaos(t *testing.T, nodes int) *chaos {
	w := newWorld(t)
	w.logLevel = "info"
	c := &chaos{t: t, w: w, dir: t.TempDir(), rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), tokens: map[string]string{}}
	c.nats = startCluster(t, nodes)
	for i := range 3 {
		v := &chaosValidator{name: fmt.Sprintf("v%d", i+1), cache: filepath.Join(c.dir, fmt.Sprintf("v%d.db", i+1))}
		out, err := exec.Command(filepath.Join(binDir, "validator"), "key", "-key-file", v.cache+".nk").Output()
		if err != nil {
			t.Fatalf("validator key: %v", err)
		}
		c.keys = append(c.keys, strings.TrimSpace(string(out)))
		for _, n := range c.nats.nodes {
			v.proxies = append(v.proxies, newProxy(t, n.addr()))
		}
		c.vals = append(c.vals, v)
	}
	c.issuerEnv = map[string]string{
		"GATEPASS_VALIDATOR_KEYS":      strings.Join(c.keys, ","),
		"GATEPASS_DEVELOPMENT":         "false",
		"GATEPASS_STREAM_REPLICAS":     fmt.Sprint(nodes),
		"GATEPASS_MAX_ANSWER_BOUND":    chaosStaleness.String(),
		"GATEPASS_PROPAGATION_TIMEOUT": (3 * chaosStaleness).String(),
		"GATEPASS_LOG_LEVEL":           "info",
		"GATEPASS_MAX_CLOCK_SKEW":      "250ms",
	}
	c.startIssuer()
	c.admin, c.pub = c.issuer.vars["GATEPASS_TOKEN"], c.issuer.vars["GATEPASS_ISSUER_PUBLIC_KEY"]
	for _, v := range c.vals {
		c.startValidator(v)
	}
	return c
}

func (c *chaos) startIssuer() {
	c.issuer = c.w.startIssuer(issuerOpts{natsURL: c.nats.urls(), dataDir: filepath.Join(c.dir, "issuer"), env: c.issuerEnv})
	c.issAddr.Store(c.issuer.vars["GATEPASS_ISSUER_ADDR"])
}

func (c *chaos) startValidator(v *chaosValidator) {
	var urls []string
	for _, p := range v.proxies {
		urls = append(urls, p.url())
	}
	v.proc = c.w.startValidatorEnv(v.name, strings.Join(urls, ","), c.pub, v.cache, chaosStaleness, map[string]string{"GATEPASS_LOG_LEVEL": "info"})
	v.addr.Store(v.proc.vars["GATEPASS_VALIDATOR_ADDR"])
}

// conns caches one client connection per address (processes restart on
// new ports).
type conns struct {
	t  *testing.T
	mu sync.Mutex
	m  map[string]*grpc.ClientConn
}

func (cs *conns) get(addr string) *grpc.ClientConn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[string]*grpc.ClientConn{}
	}
	if c, ok := cs.m[addr]; ok {
		return c
	}
	c := dial(cs.t, addr)
	cs.m[addr] = c
	return c
}

func (c *chaos) run(d time.Duration) {
	t := c.t
	cs := &conns{t: t}
	// Tokens to begin with.
	for range 6 {
		c.operate(cs)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, v := range c.vals {
		for range 2 {
			wg.Go(func() { c.hammer(ctx, cs, v) })
		}
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			c.operate(cs)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(20+c.rand(60)) * time.Millisecond):
			}
		}
	})
	end := time.Now().Add(d)
	if len(c.nats.nodes) == 1 {
		// The single server restarted with its data kept, then wiped (the
		// stream lost: the issuer must recreate it and republish).
		for _, wipe := range []bool{false, true} {
			c.restartNATS(c.nats.nodes[0], time.Second, wipe)
			time.Sleep(time.Second)
		}
	}
	for time.Now().Before(end) {
		c.fault()
		time.Sleep(time.Duration(500+c.rand(1500)) * time.Millisecond)
	}
	c.heal()
	// Convergence is measured with the load stopped: a moving target never
	// matches everywhere at one instant.
	stop()
	wg.Wait()
	start := time.Now()
	c.converge(cs, 90*time.Second)
	c.summary.converged = time.Since(start)
	c.summary.ops = c.hist.ops.Load() + c.hist.validations.Load()
	violations := c.hist.check()
	c.summary.violations += int64(len(violations))
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("%d lifecycle changes, %d validations, %d faults, %d complete disable/revoke receipts, converged in %v",
		c.hist.ops.Load(), c.hist.validations.Load(), c.summary.faults, len(c.hist.receipts), c.summary.converged)
}

func (c *chaos) rand(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// hammer validates random tokens against one validator and records every
// acceptance.
func (c *chaos) hammer(ctx context.Context, cs *conns, v *chaosValidator) {
	for ctx.Err() == nil {
		c.mu.Lock()
		if len(c.idOrder) == 0 {
			c.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		id := c.idOrder[c.rng.IntN(len(c.idOrder))]
		secret := c.tokens[id]
		c.mu.Unlock()
		client := gatepassv1.NewValidatorServiceClient(cs.get(v.addr.Load().(string)))
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		started := time.Now()
		resp, err := client.ValidateToken(cctx, &gatepassv1.ValidateTokenRequest{Token: secret})
		cancel()
		c.hist.validations.Add(1)
		if err != nil {
			time.Sleep(5 * time.Millisecond) // not serving, or restarting
			continue
		}
		if resp.GetActive() {
			c.hist.accept(v.name, id, started, time.Now())
		}
	}
}

// operate makes one lifecycle change through the issuer and records it.
func (c *chaos) operate(cs *conns) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.admin)
	iss := gatepassv1.NewIssuerServiceClient(cs.get(c.issAddr.Load().(string)))
	c.mu.Lock()
	n := len(c.idOrder)
	var id string
	if n > 0 {
		id = c.idOrder[c.rng.IntN(n)]
	}
	roll := c.rng.IntN(100)
	c.mu.Unlock()
	c.hist.ops.Add(1)
	if n < 12 || roll < 5 {
		resp, err := iss.CreateToken(ctx, &gatepassv1.CreateTokenRequest{
			Name: fmt.Sprintf("chaos-runner-%d-%d", n, time.Now().UnixNano()), Role: gatepassv1.Role_ROLE_VIEWER, NeverExpires: true,
		})
		if err == nil {
			c.w.secret(resp.GetSecret())
			c.mu.Lock()
			c.tokens[resp.GetToken().GetId()] = resp.GetSecret()
			c.idOrder = append(c.idOrder, resp.GetToken().GetId())
			c.mu.Unlock()
		}
		return
	}
	started := time.Now()
	get, err := iss.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: id})
	if err != nil {
		return
	}
	var receipt *gatepassv1.PropagationReceipt
	kind := ""
	switch status := get.GetToken().GetStatus(); {
	case status == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
		return
	case roll < 15:
		kind = "revoke"
		c.hist.attempt(id, kind, started)
		resp, err := iss.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: id, Reason: "chaos"})
		if err == nil {
			receipt = resp.GetReceipt()
		}
	case status == gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED:
		kind = "enable"
		c.hist.attempt(id, kind, started)
		_, _ = iss.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: id})
	default:
		kind = "disable"
		c.hist.attempt(id, kind, started)
		resp, err := iss.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: id, Reason: "chaos"})
		if err == nil {
			receipt = resp.GetReceipt()
		}
	}
	if receipt.GetComplete() {
		c.hist.complete(id, kind, started, time.Now())
	}
}

// fault injects one fault and heals it after a while (in the background
// for NATS, so faults overlap).
func (c *chaos) fault() {
	hold := time.Duration(500+c.rand(2500)) * time.Millisecond
	switch k := c.rand(5); k {
	case 0: // kill -9 a NATS node; restart it with its data (a single one
		// sometimes without)
		node := c.nats.nodes[c.rand(len(c.nats.nodes))]
		c.restartNATS(node, hold, len(c.nats.nodes) == 1 && c.rand(2) == 0)
	case 1: // kill -9 the issuer
		c.summary.faults++
		c.t.Logf("kill -9 the issuer for %v", hold)
		c.issuer.kill9()
		time.Sleep(hold)
		c.startIssuer()
	case 2: // kill -9 a validator, keeping or losing its cache
		v := c.vals[c.rand(len(c.vals))]
		lose := c.rand(3) == 0
		c.summary.faults++
		c.t.Logf("kill -9 %s (cache lost: %v) for %v", v.name, lose, hold)
		v.proc.kill9()
		if lose {
			_ = os.Remove(v.cache)
		}
		time.Sleep(hold)
		c.startValidator(v)
	default: // partition a validator from NATS
		v := c.vals[c.rand(len(c.vals))]
		c.summary.faults++
		c.t.Logf("partition %s for %v", v.name, hold)
		for _, p := range v.proxies {
			p.partition()
		}
		time.Sleep(hold)
		for _, p := range v.proxies {
			p.heal()
		}
	}
}

// restartNATS kills a node with SIGKILL and starts it again after hold,
// with its data kept or wiped.
func (c *chaos) restartNATS(node *natsNode, hold time.Duration, wipe bool) {
	c.summary.faults++
	c.t.Logf("kill -9 NATS %s for %v (data wiped: %v)", node.name, hold, wipe)
	c.nats.kill(node)
	time.Sleep(hold)
	if wipe {
		c.nats.wipe(node)
	}
	c.nats.start(node)
}

// heal makes sure every process runs and every link is up.
func (c *chaos) heal() {
	for _, n := range c.nats.nodes {
		if n.cmd == nil {
			c.nats.start(n)
		}
	}
	for _, v := range c.vals {
		for _, p := range v.proxies {
			p.heal()
		}
	}
}

// converge waits until every validator answers every token as the issuer
// holds it.
func (c *chaos) converge(cs *conns, limit time.Duration) {
	deadline := time.Now().Add(limit)
	want := map[string]gatepassv1.Reason{}
	var last string
	for time.Now().Before(deadline) {
		last = c.mismatch(cs, want)
		if last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Errorf("not converged within %v: %s", limit, last)
	c.summary.violations++
}

func (c *chaos) mismatch(cs *conns, want map[string]gatepassv1.Reason) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.admin)
	iss := gatepassv1.NewIssuerServiceClient(cs.get(c.issAddr.Load().(string)))
	c.mu.Lock()
	ids := append([]string(nil), c.idOrder...)
	c.mu.Unlock()
	for _, id := range ids {
		get, err := iss.GetToken(actx, &gatepassv1.GetTokenRequest{TokenId: id})
		if err != nil {
			return fmt.Sprintf("issuer: %v", err)
		}
		want[id] = map[gatepassv1.TokenStatus]gatepassv1.Reason{
			gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE:   gatepassv1.Reason_REASON_ACTIVE,
			gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED: gatepassv1.Reason_REASON_DISABLED,
			gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:  gatepassv1.Reason_REASON_REVOKED,
		}[get.GetToken().GetStatus()]
	}
	for _, v := range c.vals {
		client := gatepassv1.NewValidatorServiceClient(cs.get(v.addr.Load().(string)))
		for _, id := range ids {
			c.mu.Lock()
			secret := c.tokens[id]
			c.mu.Unlock()
			resp, err := client.ValidateToken(ctx, &gatepassv1.ValidateTokenRequest{Token: secret})
			if err != nil {
				return fmt.Sprintf("%s: %v", v.name, err)
			}
			if resp.GetReason() != want[id] {
				return fmt.Sprintf("%s says %s for %s, the issuer holds %s", v.name, resp.GetReason(), id, want[id])
			}
		}
	}
	return ""
}

// chaosHistory is every acceptance, every change asked for, and every
// complete disable or revoke receipt, on the test's clock.
type chaosHistory struct {
	ops, validations atomic.Int64

	mu          sync.Mutex
	acceptances []chaosAcceptance
	attempts    []chaosChange
	receipts    []chaosChange
}

type chaosAcceptance struct {
	validator, id string
	start, end    time.Time
}

type chaosChange struct {
	id, kind   string
	start, end time.Time
}

func (h *chaosHistory) accept(validator, id string, start, end time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acceptances = append(h.acceptances, chaosAcceptance{validator, id, start, end})
}

func (h *chaosHistory) attempt(id, kind string, start time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts = append(h.attempts, chaosChange{id: id, kind: kind, start: start})
}

func (h *chaosHistory) complete(id, kind string, start, end time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.receipts = append(h.receipts, chaosChange{id: id, kind: kind, start: start, end: end})
}

// check: a validation that started after a disable's or revoke's complete
// receipt returned must not accept the token, unless (for a disable) an
// enable was asked for after the disable and before the validation ended.
func (h *chaosHistory) check() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.receipts {
		for _, a := range h.acceptances {
			if a.id != r.id || !a.start.After(r.end) {
				continue
			}
			reenabled := false
			for _, e := range h.attempts {
				if r.kind == "disable" && e.id == r.id && e.kind == "enable" && e.start.After(r.start) && e.start.Before(a.end) {
					reenabled = true
					break
				}
			}
			if !reenabled {
				out = append(out, fmt.Sprintf("%s accepted %s %v after its %s receipt completed", a.validator, a.id, a.start.Sub(r.end), r.kind))
				break
			}
		}
	}
	return out
}
