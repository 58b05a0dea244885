// Package usage aggregates what a validator sees, per token, and reports it
// to the issuer in batches over NATS: use count, last use and client
// address, distinct sources, the highest role asked for, and refused
// attempts with dead or misused tokens.
//
// Recording takes one short lock on one of 32 stripes, so it never slows
// validation measurably; a batch that cannot be sent is dropped, losing
// only statistics.
package usage

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/clock"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Bounds per token per batch, so a flood cannot grow memory without limit.
const (
	maxSources  = 16
	maxAttempts = 16
	stripes     = 32
	// maxTokens bounds the tokens tracked per batch per stripe.
	maxTokens = 4096
)

type attemptKey struct {
	reason gatepassv1.Reason
	ip     netip.Addr
}

type attempt struct {
	count int64
	last  time.Time
}

type agg struct {
	count    int64
	last     time.Time
	lastIP   netip.Addr
	sources  map[netip.Addr]struct{}
	maxRole  gatepassv1.Role
	attempts map[attemptKey]*attempt
}

type stripe struct {
	mu     sync.Mutex
	tokens map[string]*agg
}

// Recorder collects usage between reports.
type Recorder struct {
	seed    maphash.Seed
	stripes [stripes]stripe
	now     func() time.Time
	// Tick drives Run's reports; nil is the machine's clock.
	Tick clock.Tick
}

// NewRecorder returns an empty recorder.
func NewRecorder(now func() time.Time) *Recorder {
	r := &Recorder{seed: maphash.MakeSeed(), now: now}
	for i := range r.stripes {
		r.stripes[i].tokens = map[string]*agg{}
	}
	return r
}

// Record notes one validation of a known token.
func (r *Recorder) Record(tokenID string, reason gatepassv1.Reason, ip netip.Addr, minRole gatepassv1.Role) {
	if r == nil || tokenID == "" {
		return
	}
	now := r.now()
	s := &r.stripes[maphash.String(r.seed, tokenID)%stripes]
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.tokens[tokenID]
	if a == nil {
		if len(s.tokens) >= maxTokens {
			return
		}
		a = &agg{}
		s.tokens[tokenID] = a
	}
	if reason == gatepassv1.Reason_REASON_ACTIVE {
		a.count++
		a.last, a.lastIP = now, ip
		if ip.IsValid() {
			if a.sources == nil {
				a.sources = map[netip.Addr]struct{}{}
			}
			if len(a.sources) < maxSources {
				a.sources[ip] = struct{}{}
			}
		}
		a.maxRole = max(a.maxRole, minRole)
		return
	}
	switch reason {
	case gatepassv1.Reason_REASON_DISABLED, gatepassv1.Reason_REASON_REVOKED,
		gatepassv1.Reason_REASON_EXPIRED, gatepassv1.Reason_REASON_IP_NOT_ALLOWED:
	default:
		return // wrong project or role: a normal refusal, not an attempt
	}
	k := attemptKey{reason, ip}
	if a.attempts == nil {
		a.attempts = map[attemptKey]*attempt{}
	}
	at := a.attempts[k]
	if at == nil {
		if len(a.attempts) >= maxAttempts {
			return
		}
		at = &attempt{}
		a.attempts[k] = at
	}
	at.count++
	at.last = now
}

// Flush returns what was recorded since the last flush, and starts afresh.
// It returns nil when nothing was recorded.
func (r *Recorder) Flush(validatorID string) *gatepassv1.UsageReport {
	rep := &gatepassv1.UsageReport{ValidatorId: validatorID, Time: timestamppb.New(r.now())}
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		tokens := s.tokens
		s.tokens = map[string]*agg{}
		s.mu.Unlock()
		for id, a := range tokens {
			tu := &gatepassv1.TokenUsage{TokenId: id, UseCount: a.count, MaxRoleNeeded: a.maxRole}
			if a.count > 0 {
				tu.LastUsedTime = timestamppb.New(a.last)
				if a.lastIP.IsValid() {
					tu.LastUsedIp = a.lastIP.String()
				}
			}
			for ip := range a.sources {
				tu.Sources = append(tu.Sources, ip.String())
			}
			for k, at := range a.attempts {
				ga := &gatepassv1.Attempt{Reason: k.reason, Count: at.count, LastTime: timestamppb.New(at.last)}
				if k.ip.IsValid() {
					ga.ClientIp = k.ip.String()
				}
				tu.Attempts = append(tu.Attempts, ga)
			}
			rep.Tokens = append(rep.Tokens, tu)
		}
	}
	if len(rep.Tokens) == 0 {
		return nil
	}
	return rep
}

// Run flushes and sends a report every interval until ctx ends, then
// sends what is left.
func (r *Recorder) Run(ctx context.Context, validatorID string, interval time.Duration, send func(*gatepassv1.UsageReport) error, log *slog.Logger) {
	ticks, stopTicks := clock.OrReal(r.Tick)(interval)
	defer stopTicks()
	for {
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-ticks:
		}
		if rep := r.Flush(validatorID); rep != nil {
			if err := send(rep); err != nil {
				log.Warn("usage report lost", "tokens", len(rep.GetTokens()), "error", err)
			}
		}
		if stop {
			return
		}
	}
}
