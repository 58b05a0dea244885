package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/follow"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config is one simulation.
type Config struct {
	Seed uint64
	// Dir holds the validators' cache files.
	Dir        string
	Validators int
	// Duration of the run with faults, then Settle without faults.
	Duration, Settle time.Duration
	// Faults turns fault injection on.
	Faults bool
	// Protocol parameters.
	Staleness, MaxSkew, Liveness, Heartbeat, ReportInterval, PullInterval, PropagationTimeout time.Duration
	// NewTracker builds the issuer's receipt tracker (default: the real one).
	NewTracker func(propagation.TrackerOptions, time.Time) receipts
	// Trace keeps a log of the run's events, returned on failure.
	Trace bool
}

// Defaults fills unset fields.
func (c Config) withDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.Duration, 20*time.Second)
	set(&c.Settle, 8*time.Second)
	set(&c.Staleness, time.Second)
	set(&c.MaxSkew, 100*time.Millisecond)
	set(&c.Liveness, time.Second)
	set(&c.Heartbeat, 100*time.Millisecond)
	set(&c.ReportInterval, 200*time.Millisecond)
	set(&c.PullInterval, 10*time.Millisecond)
	set(&c.PropagationTimeout, 2*time.Second)
	if c.Validators == 0 {
		c.Validators = 3
	}
	if c.NewTracker == nil {
		c.NewTracker = func(o propagation.TrackerOptions, now time.Time) receipts { return propagation.NewTracker(o, now) }
	}
	return c
}

// Result is what a simulation saw.
type Result struct {
	Seed                                 uint64
	Operations, Faults, Receipts, Checks int
	Violations                           []string
	Trace                                []string
}

func (r Result) String() string {
	return fmt.Sprintf("seed %d: %d operations, %d faults, %d complete receipts, %d accepted validations, %d violations",
		r.Seed, r.Operations, r.Faults, r.Receipts, r.Checks, len(r.Violations))
}

type simToken struct {
	id, secret string
}

// Sim is one simulated system.
type Sim struct {
	cfg           Config
	w             *world
	faults        bool
	stream        *stream
	store         *store
	issuer        *issuerNode
	issuerGen     int
	issuerKey     *event.Signer
	validators    []*validatorNode
	validatorKeys []string
	reportKeys    event.ReportKeys
	tokens        []*simToken
	captured      [][]byte
	hist          *history
	faultCount    int
	ops           int
}

// Run runs one simulation and checks its history.
func Run(cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	s, err := newSim(cfg)
	if err != nil {
		return Result{}, err
	}
	s.run()
	res := Result{Seed: cfg.Seed, Operations: s.ops, Faults: s.faultCount, Receipts: len(s.hist.receipts), Checks: s.hist.accepted}
	res.Violations = s.hist.check()
	for _, v := range s.validators {
		if err := v.converged(); err != nil {
			res.Violations = append(res.Violations, "not converged: "+err.Error())
		}
	}
	if len(res.Violations) > 0 {
		res.Trace = s.w.trace
	}
	for _, v := range s.validators {
		if v.cache != nil {
			v.cache.Close()
		}
	}
	return res, nil
}

// deterministicSeed makes a signing key from the simulation's randomness.
func (s *Sim) signer() (*event.Signer, error) {
	var raw [32]byte
	for i := range raw {
		raw[i] = byte(s.w.rng.UintN(256))
	}
	seed, err := nkeys.EncodeSeed(nkeys.PrefixByteServer, raw[:])
	if err != nil {
		return nil, err
	}
	return event.NewSigner(seed)
}

func newSim(cfg Config) (*Sim, error) {
	w := newWorld(cfg.Seed)
	w.debug = cfg.Trace
	s := &Sim{cfg: cfg, w: w, faults: cfg.Faults, hist: &history{}}
	var err error
	if s.issuerKey, err = s.signer(); err != nil {
		return nil, err
	}
	s.stream = newStream(w)
	s.issuer = &issuerNode{sim: s}
	s.issuer.netNode = s.newNetNode("issuer")
	s.store = &store{signer: s.issuerKey, now: s.issuer.clock, tokens: map[string]*gatepassv1.TokenState{}}
	s.stream.observe = func(m follow.Msg) {
		// The issuer's guard sees every message appended to the subjects.
		s.send(nil, &s.issuer.netNode, func() { s.issuer.guard(m.Data, m.Subject) })
	}
	for i := range cfg.Validators {
		v := &validatorNode{sim: s, name: fmt.Sprintf("v%d", i+1), staleness: cfg.Staleness}
		if cfg.Faults && i == cfg.Validators-1 && w.chance(0.25) {
			// An operator's mistake the issuer can see in the reports: the
			// receipts must wait for this validator all the same.
			v.staleness = 3 * cfg.Staleness
			w.logf("%s runs with staleness %v, above the issuer's maximum answer bound", v.name, v.staleness)
		}
		v.netNode = s.newNetNode(v.name)
		v.path = cachePath(cfg.Dir, v.name)
		if v.key, err = s.signer(); err != nil {
			return nil, err
		}
		s.validators = append(s.validators, v)
		s.validatorKeys = append(s.validatorKeys, v.key.PublicKey())
	}
	if s.reportKeys, err = event.ParseReportKeys(s.validatorKeys); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sim) run() {
	w := s.w
	s.issuer.start()
	for _, v := range s.validators {
		v.start()
	}
	end := epoch.Add(s.cfg.Duration)
	// Workload: a few tokens, then lifecycle changes.
	for range 4 {
		s.create()
	}
	w.every(40*time.Millisecond, func() bool {
		if w.now.Before(end) && s.issuer.up {
			s.operate()
		}
		return w.now.Before(end)
	})
	// Validations against every validator.
	w.every(3*time.Millisecond, func() bool {
		if len(s.tokens) > 0 {
			v := s.validators[w.rng.IntN(len(s.validators))]
			v.validate(s.tokens[w.rng.IntN(len(s.tokens))])
		}
		return true
	})
	if s.faults {
		w.every(400*time.Millisecond, func() bool {
			if w.now.Before(end.Add(-s.cfg.Staleness)) {
				s.fault()
			}
			return w.now.Before(end)
		})
	}
	w.runUntil(end)
	s.heal()
	w.runUntil(end.Add(s.cfg.Settle))
}

func (s *Sim) create() {
	if !s.issuer.up {
		return
	}
	sec, err := token.Format{}.Mint()
	if err != nil {
		panic(err)
	}
	d := sec.Digest()
	id := fmt.Sprintf("tok_%04d", len(s.tokens)+1)
	s.tokens = append(s.tokens, &simToken{id: id, secret: sec.String()})
	s.issuer.change(&gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: id, Name: id, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, NeverExpires: true, Role: gatepassv1.Role_ROLE_VIEWER},
		SecretSha256: d[:],
	})
	s.ops++
}

// operate makes one lifecycle change.
func (s *Sim) operate() {
	w := s.w
	if len(s.tokens) < 6 || w.chance(0.1) {
		s.create()
		return
	}
	tok := s.tokens[w.rng.IntN(len(s.tokens))]
	st := proto.CloneOf(s.store.tokens[tok.id])
	t := st.GetToken()
	switch {
	case t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
		return
	case w.chance(0.15):
		t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
	case t.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED:
		t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
	default:
		t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED
	}
	t.UpdateTime = timestamppb.New(s.issuer.clock())
	s.issuer.change(st)
	s.ops++
}

// sortedIDs returns a map's keys in order, for determinism.
func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
