package publish

import (
	"fmt"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/nats-io/nats.go"
)

// Guard watches the stream's subjects and, whenever a message appears there
// that is not the issuer's latest state (unsigned, forged, or an older event
// replayed by someone who can publish on NATS), queues the current state
// again. The token stream keeps only the last message per subject, so
// without this a replayed old event would be what a validator rebuilding
// from scratch reads. Running validators are safe either way: they verify
// signatures and never go back to an older version.
func (p *Publisher) Guard() (*nats.Subscription, error) {
	verifier, err := event.NewVerifier(p.signer.PublicKey())
	if err != nil {
		return nil, err
	}
	handle := func(m *nats.Msg) {
		kind, id, ok := event.ParseSubject(m.Subject)
		if !ok {
			return
		}
		// A project event has no version: compare presence only (0 = good).
		var seen uint64 = 1 << 63
		if ev, err := verifier.Open(m.Data); err == nil && event.Subject(ev) == m.Subject {
			seen = 0
			if ev.GetToken() != nil {
				seen = ev.GetToken().GetToken().GetVersion()
			}
		}
		var stale, requeued bool
		err := p.store.View(func(tx *store.Tx) (err error) {
			stale, err = tx.Stale(kind, id, seen)
			return err
		})
		if err == nil && stale {
			err = p.store.Update(func(tx *store.Tx) (err error) {
				requeued, err = tx.Requeue(kind, id, seen)
				return err
			})
		}
		if err != nil {
			p.opts.Logger.Error("repair token stream", "subject", m.Subject, "error", err)
			return
		}
		if requeued {
			p.opts.Logger.Warn("stream message is not the latest state; republished it", "subject", m.Subject)
			p.Notify()
		}
	}
	// One subscription covers token and project subjects; ParseSubject
	// skips the others it matches.
	sub, err := p.nc.Subscribe("gatepass.*.*", handle)
	if err != nil {
		return nil, fmt.Errorf("watch stream subjects: %w", err)
	}
	return sub, nil
}
