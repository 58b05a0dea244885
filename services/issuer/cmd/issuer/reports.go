package main

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/services/issuer/internal/publish"
	"github.com/gatepass/gatepass/services/issuer/internal/usage"
	"github.com/nats-io/nats.go"
)

// subscribe takes validator reports (applied positions, for receipts),
// usage reports, and the guard against foreign token events; it returns
// the function that unsubscribes them all. Only reports signed by keyList
// count (every key, in development mode with none).
func subscribe(nc *nats.Conn, keyList []string, tracker *propagation.Tracker, pub *propagation.Publisher, ingester *usage.Ingester, notify func(), log *slog.Logger) (func(), error) {
	keys, _ := event.ParseReportKeys(keyList) // checked by Validate
	if len(keys) == 0 {
		log.Warn("development mode: validator reports are not authenticated; set GATEPASS_VALIDATOR_KEYS in production")
	}
	dropped := newDropLog(log)
	sub, err := nc.Subscribe(event.ReportSubject, func(m *nats.Msg) {
		var r gatepassv1.ValidatorReport
		signer, err := keys.OpenReport(m.Data, &r)
		if err == nil {
			err = tracker.Report(signer, &r, time.Now())
		}
		switch {
		case err == nil:
		case propagation.Recorded(err):
			dropped.note("validator report taken with a problem", signer, err)
		default:
			dropped.note("dropping validator reports", signer, err)
			return
		}
		if cp := r.GetDistrustedCheckpoint(); cp > 0 {
			if _, err := pub.RepairAll(cp); err != nil {
				log.Error("republish every state", "error", err)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to validator reports: %w", err)
	}

	usageSub, err := nc.Subscribe(event.UsageSubject, func(m *nats.Msg) {
		var r gatepassv1.UsageReport
		if signer, err := keys.OpenReport(m.Data, &r); err != nil {
			dropped.note("dropping usage reports", signer, err)
			return
		}
		if err := ingester.Ingest(&r); err != nil {
			log.Error("ingest usage report", "validator_id", r.GetValidatorId(), "error", err)
			return
		}
		notify() // attempts went to the audit trail (and canary notices out)
	})
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to usage reports: %w", err)
	}
	guard, err := publish.Guard(nc, pub, log)
	if err != nil {
		_ = sub.Unsubscribe()
		_ = usageSub.Unsubscribe()
		return nil, err
	}
	return func() {
		_ = sub.Unsubscribe()
		_ = usageSub.Unsubscribe()
		_ = guard.Unsubscribe()
	}, nil
}

// dropLog logs a dropped report once per kind, signer and reason, so a
// misconfigured validator does not flood the log.
type dropLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

func newDropLog(log *slog.Logger) *dropLog { return &dropLog{log: log, seen: map[string]bool{}} }

func (d *dropLog) note(msg, signer string, err error) {
	key := msg + "|" + signer + "|" + err.Error()
	d.mu.Lock()
	first := !d.seen[key] && len(d.seen) < 1000
	if first {
		d.seen[key] = true
	}
	d.mu.Unlock()
	if first {
		d.log.Warn(msg+" (logged once)", "signer", signer, "error", err)
	}
}
