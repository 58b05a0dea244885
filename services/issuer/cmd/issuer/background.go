package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatepass/gatepass/pkg/clock"
	"github.com/gatepass/gatepass/pkg/gctune"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/telemetry"
	"github.com/gatepass/gatepass/services/issuer/internal/notify"
	"github.com/gatepass/gatepass/services/issuer/internal/rpc"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// background is the issuer's background work: publishing, delivering
// notices, schedules, lifecycle policies, attempt pruning, metrics, and
// the GC's target (gctune).
func background(cfg Config, deps *rpc.Deps, deliverer *notify.Deliverer, metrics *telemetry.Metrics, log *slog.Logger) []grpcserver.Actor {
	return []grpcserver.Actor{
		func(ctx context.Context) error { deps.Publisher.Run(ctx); return nil },
		func(ctx context.Context) error { gctune.Run(ctx, 100); return nil },
		deliverer.Run,
		func(ctx context.Context) error {
			ticks, stop := clock.RealTick(time.Second)
			defer stop()
			deps.Lifecycle.RunSchedules(ctx, ticks)
			return nil
		},
		func(ctx context.Context) error {
			ticks, stop := clock.RealTick(cfg.PolicyInterval)
			defer stop()
			deps.Lifecycle.RunPolicies(ctx, ticks)
			return nil
		},
		func(ctx context.Context) error {
			if cfg.AttemptRetention > 0 {
				pruneAttempts(ctx, deps.Store, cfg.AttemptRetention, log)
			}
			return nil
		},
		func(ctx context.Context) error {
			if cfg.ReviewDigestInterval > 0 {
				ticks, stop := clock.RealTick(min(cfg.ReviewDigestInterval, time.Hour))
				defer stop()
				deps.Lifecycle.RunDigests(ctx, ticks, cfg.ReviewDigestInterval)
			}
			return nil
		},
		func(ctx context.Context) error { pruneNotices(ctx, deps.Store, cfg.NoticeRetention, log); return nil },
		func(ctx context.Context) error {
			if err := metrics.Serve(ctx); err != nil {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		},
	}
}

// pruneNotices deletes notices and finished deliveries older than
// retention, every hour, a bounded batch per transaction.
func pruneNotices(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	ticks, stop := clock.RealTick(time.Hour)
	defer stop()
	failures := propagation.NewRepeatLog(log, time.Hour)
	for {
		for more := true; more && ctx.Err() == nil; {
			var err error
			if _, more, err = st.PruneNotices(time.Now().Add(-retention), 1000); err != nil {
				failures.Warn("prune notices", err)
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

// pruneAttempts deletes token.attempt audit records older than retention,
// every minute, a bounded batch per transaction. Lifecycle records stay.
func pruneAttempts(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	failures := propagation.NewRepeatLog(log, time.Hour)
	for {
		for more := true; more && ctx.Err() == nil; {
			var n int
			var err error
			n, more, err = st.PruneAudit("token.attempt", time.Now().Add(-retention), 10000)
			if err != nil {
				failures.Warn("prune attempt records", err)
				break
			}
			if n > 0 {
				log.Info("pruned attempt records past their retention", "deleted", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
