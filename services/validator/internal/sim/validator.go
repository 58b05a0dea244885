package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/check"
	"github.com/gatepass/gatepass/services/validator/internal/follow"
	"github.com/gatepass/gatepass/services/validator/internal/rpc"
)

// validatorNode is one validator process and its cache file.
type validatorNode struct {
	netNode
	sim  *Sim
	name string
	path string
	key  *event.Signer
	// staleness is the validator's own; above the issuer's maximum answer
	// bound when the run misconfigures it.
	staleness time.Duration
	up        bool
	gen       int
	cache     *cache.Cache
	f         *follow.Follower
	rpc       *rpc.Server

	// consumer
	stalled  bool      // the consumer delivers nothing for now
	instance time.Time // stream instance the consumer reads
	next     uint64    // next sequence to read; 0: resume first
}

func (v *validatorNode) node() *netNode { return &v.netNode }

func (v *validatorNode) start() {
	if v.up {
		return // healed already
	}
	s := v.sim
	c, err := cache.OpenOrRebuild(v.path, slog.New(slog.DiscardHandler), cache.Options{NoSync: true})
	if err != nil {
		panic(fmt.Sprintf("%s: open cache: %v", v.name, err))
	}
	verifier, err := event.NewVerifier(s.issuerKey.PublicKey())
	if err != nil {
		panic(err)
	}
	v.cache = c
	v.f = follow.New(c, verifier, follow.Options{
		ID: v.name, Staleness: v.staleness, MaxClockSkew: s.cfg.MaxSkew, ReportInterval: s.cfg.ReportInterval,
		Seal: v.key.SealReport, Logger: s.w.logger(v.name), Now: v.clock,
	})
	if err := v.f.Load(); err != nil {
		panic(err)
	}
	v.rpc = &rpc.Server{Store: c, Current: v.f.Current, Now: v.clock, Logger: slog.New(slog.DiscardHandler)}
	v.up, v.next = true, 0
	v.gen++
	gen := v.gen
	alive := func() bool { return v.up && v.gen == gen }
	s.w.every(s.cfg.PullInterval, func() bool {
		if alive() {
			v.pull()
		}
		return alive()
	})
	s.w.every(v.staleness/4, func() bool {
		if alive() && v.f.NeedsConfirm() {
			v.confirm()
		}
		return alive()
	})
	s.w.every(s.cfg.ReportInterval, func() bool {
		if alive() {
			v.report()
		}
		return alive()
	})
}

// crash stops the process; the cache file is kept, lost or corrupted.
func (v *validatorNode) crash(fate string) {
	v.up = false
	v.gen++
	v.cache.Close()
	v.cache, v.f, v.rpc = nil, nil, nil
	switch fate {
	case "lost":
		_ = os.Remove(v.path)
	case "corrupt":
		_ = os.WriteFile(v.path, []byte("this is not a bbolt file"), 0o600)
	}
}

// pull reads the next messages from the stream and applies them, as the
// ordered consumer does.
func (v *validatorNode) pull() {
	s := v.sim
	if v.partitioned || !s.stream.exists {
		v.next = 0
		return
	}
	if v.stalled {
		return
	}
	if v.f.TakeResync() || !v.instance.Equal(s.stream.created) {
		v.next = 0
	}
	if v.next == 0 {
		asked := v.clock()
		info := s.stream.info()
		from, err := v.f.Resume(info, asked)
		if err != nil {
			panic(fmt.Sprintf("%s: resume: %v", v.name, err))
		}
		v.instance, v.next = info.Created, from
	}
	batch := s.stream.fetch(v.next, 64)
	if len(batch) == 0 {
		return
	}
	err := v.f.Apply(batch)
	switch {
	case errors.Is(err, follow.ErrRestart):
		v.next = 0
	case err != nil:
		panic(fmt.Sprintf("%s: apply: %v", v.name, err))
	default:
		v.next = batch[len(batch)-1].Seq + 1
		v.report()
	}
}

// confirm asks the stream for its head: the answer is read after a delay
// and arrives after another, both of which a partition can swallow.
func (v *validatorNode) confirm() {
	s := v.sim
	asked, gen := v.clock(), v.gen
	s.w.after(s.delay(), func() {
		if v.partitioned || !s.stream.exists || v.gen != gen {
			return
		}
		info := s.stream.info()
		s.w.after(s.delay(), func() {
			if v.up && v.gen == gen && !v.partitioned {
				v.f.Confirm(info, asked)
			}
		})
	})
}

func (v *validatorNode) report() {
	data, err := v.f.Report()
	if err != nil {
		panic(err)
	}
	s := v.sim
	s.send(v.node(), &s.issuer.netNode, func() { s.issuer.report(data) })
	s.captured = append(s.captured, data)
}

func (v *validatorNode) heartbeat(data []byte) {
	if v.up {
		v.f.Heartbeat(data)
	}
}

// validate answers for a token as the gRPC handler does, and records it.
func (v *validatorNode) validate(tok *simToken) {
	if !v.up {
		return
	}
	sec, err := token.Format{}.Parse(tok.secret)
	if err != nil {
		panic(err)
	}
	if v.f.Current() != nil {
		return
	}
	a, err := v.rpc.Decide(tok.secret, check.Request{})
	if errors.Is(err, cache.ErrUnverified) {
		return
	}
	if err != nil {
		panic(fmt.Sprintf("%s: decide: %v", v.name, err))
	}
	if !a.Active() {
		return
	}
	e, _, err := v.cache.Entry(sec.Digest())
	if err != nil {
		panic(err)
	}
	v.sim.hist.accept(v.name, tok.id, e.Version, v.sim.w.now)
}

// converged reports whether the validator serves and holds every token at
// the issuer's version.
func (v *validatorNode) converged() error {
	if !v.up {
		return fmt.Errorf("%s is down", v.name)
	}
	if err := v.f.Current(); err != nil {
		return fmt.Errorf("%s: %w", v.name, err)
	}
	for _, tok := range v.sim.tokens {
		want := v.sim.store.tokens[tok.id].GetToken().GetVersion()
		sec, _ := token.Format{}.Parse(tok.secret)
		e, verified, err := v.cache.Entry(sec.Digest())
		if err != nil {
			return fmt.Errorf("%s: token %s: %w", v.name, tok.id, err)
		}
		if got := e.Version; got != want || !verified {
			return fmt.Errorf("%s: token %s at version %d (verified %v), issuer has %d", v.name, tok.id, got, verified, want)
		}
	}
	return nil
}

func cachePath(dir, name string) string { return filepath.Join(dir, name+".db") }
