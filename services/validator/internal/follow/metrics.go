package follow

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics publishes the follower's state as observable instruments:
// applied sequence, serving, dropped events, stale answers, and the
// operator's serve-stale choice, so that choice is visible.
func (f *Follower) RegisterMetrics(m metric.Meter) error {
	applied, err := m.Int64ObservableGauge("gatepass_validator_applied_sequence",
		metric.WithDescription("Last token stream sequence applied to the cache."))
	if err != nil {
		return err
	}
	serving, err := m.Int64ObservableGauge("gatepass_validator_serving",
		metric.WithDescription("1 while the validator is current and answers, else 0."))
	if err != nil {
		return err
	}
	dropped, err := m.Int64ObservableCounter("gatepass_validator_dropped_events",
		metric.WithDescription("Stream messages and heartbeats dropped as unsigned, badly signed or malformed."))
	if err != nil {
		return err
	}
	stale, err := m.Int64ObservableCounter("gatepass_validator_stale_answers",
		metric.WithDescription("Answers given past the staleness bound under serve-stale-for."))
	if err != nil {
		return err
	}
	serveStale, err := m.Float64ObservableGauge("gatepass_validator_serve_stale_for_seconds",
		metric.WithDescription("Configured time the validator keeps answering past the staleness bound; 0 fails closed."))
	if err != nil {
		return err
	}
	rebuilds, err := m.Int64ObservableCounter("gatepass_validator_rebuilds",
		metric.WithDescription("Cache rebuilds after disagreeing with an issuer checkpoint or failing to decode."))
	if err != nil {
		return err
	}
	skewed, err := m.Int64ObservableCounter("gatepass_validator_skewed_heartbeats",
		metric.WithDescription("Heartbeats dated ahead of this clock by more than the clock-skew bound (they confirm nothing)."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(applied, int64(f.Applied()))
		s := int64(0)
		if f.Serving() {
			s = 1
		}
		o.ObserveInt64(serving, s)
		o.ObserveInt64(dropped, int64(f.Dropped()))
		o.ObserveInt64(stale, int64(f.StaleAnswers()))
		o.ObserveFloat64(serveStale, f.opts.ServeStaleFor.Seconds())
		o.ObserveInt64(rebuilds, int64(f.Rebuilt()))
		o.ObserveInt64(skewed, int64(f.skewed.Load()))
		return nil
	}, applied, serving, dropped, stale, serveStale, rebuilds, skewed)
	return err
}
