package propagation

import (
	"crypto/sha256"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// Repair looks at a message that appeared on a stream subject and, when it
// is not the issuer's current state (unsigned, forged, or an older event
// replayed by someone who can publish on NATS), queues the current state
// again. Running validators are safe either way (they verify signatures
// and never go back to an older version); this keeps the stream right for
// validators that rebuild from it.
func (p *Publisher) Repair(subject string, data []byte) (bool, error) {
	kind, id, ok := event.ParseSubject(subject)
	if !ok {
		return false, nil
	}
	// A project event has no version: compare presence only (0 = good).
	var seen uint64 = 1 << 63
	if ev, err := p.open(data); err == nil && event.Subject(ev) == subject {
		seen = 0
		if ev.GetToken() != nil {
			seen = ev.GetToken().GetToken().GetVersion()
		}
	}
	requeued, err := p.outbox.Repair(kind, id, seen)
	if requeued {
		p.Notify()
	}
	return requeued, err
}

// remember notes entries about to be published, for open.
func (p *Publisher) remember(entries []Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.own)+len(entries) > maxOwn {
		clear(p.own)
	}
	for _, e := range entries {
		if _, _, ok := event.ParseSubject(e.Subject); ok { // what Repair looks at
			p.own[sha256.Sum256(e.Data)] = struct{}{}
		}
	}
}

// open reads a message seen on the stream: one this publisher published
// is decoded, anything else has its signature checked.
func (p *Publisher) open(data []byte) (*gatepassv1.Event, error) {
	h := sha256.Sum256(data)
	p.mu.Lock()
	_, mine := p.own[h]
	delete(p.own, h)
	p.mu.Unlock()
	if mine {
		return event.Decode(data)
	}
	return p.verifier.Open(data)
}

// RepairAll republishes every state when a validator reports that the
// stream disagrees with the checkpoint at logIndex even after it rebuilt
// from it: someone replaced messages on the stream while the issuer could
// not see them (it was down or disconnected). It runs once per checkpoint.
func (p *Publisher) RepairAll(logIndex uint64) (int, error) {
	p.mu.Lock()
	if logIndex <= p.repairedAt {
		p.mu.Unlock()
		return 0, nil
	}
	p.repairedAt = logIndex
	p.mu.Unlock()
	n, err := p.outbox.RequeueAll()
	if n > 0 {
		p.opts.Logger.Warn("a validator finds the token stream disagrees with a checkpoint; republishing every state", "log_index", logIndex, "events", n)
		p.Notify()
	}
	return n, err
}
