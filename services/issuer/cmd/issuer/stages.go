package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// stageBounds are the histogram buckets for the stages of a change, in
// seconds: fine below 10 ms, where receipts on a healthy system fall.
var stageBounds = []float64{
	0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075,
	0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// sizeBounds are the buckets for changes per commit and events per batch.
var sizeBounds = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// stages records where the time of a change goes, for operators asking
// why receipts are slow and for the load program's breakdown: the commit
// (Batch calls committed together), the publication (batches of events
// on the token stream), and each change's wait from commit to
// publication and from publication to its receipt.
type stages struct {
	commit, commitSize, step, stepSize, published, receipt metric.Float64Histogram
}

func newStages(m metric.Meter) (*stages, error) {
	var s stages
	for _, h := range []struct {
		into        *metric.Float64Histogram
		name, unit  string
		description string
		bounds      []float64
	}{
		{&s.commit, "gatepass_issuer_commit_duration", "s", "Time of one commit of changes made together: their transaction, signing, the write and its syncs.", stageBounds},
		{&s.commitSize, "gatepass_issuer_commit_changes", "{change}", "Changes committed together.", sizeBounds},
		{&s.step, "gatepass_issuer_publish_duration", "s", "Time to publish one batch of events to the token stream and check the stream.", stageBounds},
		{&s.stepSize, "gatepass_issuer_publish_events", "{event}", "Events published together to the token stream.", sizeBounds},
		{&s.published, "gatepass_issuer_change_publish_wait_duration", "s", "Time from a change's commit to its publication on the token stream.", stageBounds},
		{&s.receipt, "gatepass_issuer_change_receipt_wait_duration", "s", "Time from a change's publication to its receipt (complete, or the propagation timeout).", stageBounds},
	} {
		var err error
		*h.into, err = m.Float64Histogram(h.name, metric.WithUnit(h.unit), metric.WithDescription(h.description),
			metric.WithExplicitBucketBoundaries(h.bounds...))
		if err != nil {
			return nil, err
		}
	}
	return &s, nil
}

func (s *stages) onCommit(changes int, took time.Duration) {
	s.commit.Record(context.Background(), took.Seconds())
	s.commitSize.Record(context.Background(), float64(changes))
}

func (s *stages) onStep(events int, took time.Duration) {
	s.step.Record(context.Background(), took.Seconds())
	s.stepSize.Record(context.Background(), float64(events))
}

func (s *stages) onReceipt(toPublished, toReceipt time.Duration) {
	s.published.Record(context.Background(), toPublished.Seconds())
	s.receipt.Record(context.Background(), toReceipt.Seconds())
}
