package check

import (
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// reasonOptions holds one precomputed attribute set per reason, so counting
// an answer by reason builds and hashes nothing on the hot path.
var reasonOptions = func() map[gatepassv1.Reason]metric.AddOption {
	m := map[gatepassv1.Reason]metric.AddOption{}
	for v, name := range gatepassv1.Reason_name {
		m[gatepassv1.Reason(v)] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", name)))
	}
	return m
}()

// ReasonOption returns the metric option that labels a count with reason.
func ReasonOption(r gatepassv1.Reason) metric.AddOption {
	if o, ok := reasonOptions[r]; ok {
		return o
	}
	return reasonOptions[gatepassv1.Reason_REASON_UNSPECIFIED]
}
