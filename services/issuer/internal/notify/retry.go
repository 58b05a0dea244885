package notify

import (
	"errors"
	"math/rand/v2"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// next is a delivery after an attempt.
func (d *Deliverer) next(o outcome, now time.Time) *gatepassv1.WebhookDelivery {
	dl := o.delivery
	next := proto.CloneOf(dl)
	next.Attempts++
	next.LastStatus = int32(o.status)
	next.LastAttemptTime = timestamppb.New(now)
	next.LastError = ""
	if o.err == nil {
		next.State = gatepassv1.DeliveryState_DELIVERY_STATE_DELIVERED
		next.NextAttemptTime = nil
		return next
	}
	next.LastError = describe(o.err)
	at := now.Add(d.backoff(int(next.Attempts)))
	if at.Sub(dl.GetCreateTime().AsTime()) > d.RetryWindow {
		next.State = gatepassv1.DeliveryState_DELIVERY_STATE_FAILED
		next.NextAttemptTime = nil
	} else {
		next.NextAttemptTime = timestamppb.New(at)
	}
	if next.Attempts == 1 {
		d.Logger.Info("notice delivery failed; will retry", "delivery_id", dl.GetId(), "webhook_id", dl.GetWebhookId(), "error", next.LastError)
	}
	return next
}

// backoff is the delay before retry n (n ≥ 1): RetryBase doubled each
// time, capped at an hour, with up to a fifth of jitter either way.
func (d *Deliverer) backoff(n int) time.Duration {
	delay := d.RetryBase
	for i := 1; i < n && delay < maxRetryDelay; i++ {
		delay *= 2
	}
	delay = min(delay, maxRetryDelay)
	jitter := time.Duration(rand.Int64N(int64(delay)/5 + 1))
	return delay - delay/10 + jitter
}

// describe turns a delivery error into text safe to show: no URL query
// (which some providers use for secrets).
func describe(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && errors.Is(err, inner) {
			err = inner
		}
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
