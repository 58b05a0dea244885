package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/clock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Subject is the NATS subject of a workspace's notices.
func Subject(workspaceID string) string { return "gatepass.notice." + workspaceID }

// Deliverer sends due deliveries.
type Deliverer struct {
	Store *store.Store
	// Publish sends a notice on NATS; nil counts them as sent.
	Publish func(subject string, body []byte) error
	Now     func() time.Time
	// Tick paces the rounds (every second); nil is the machine's clock.
	Tick clock.Tick
	// RetryBase is the first retry's delay (default 5s); each retry
	// doubles it, with jitter, up to an hour.
	RetryBase time.Duration
	// RetryWindow is how long a notice is retried (default 26h).
	RetryWindow time.Duration
	Logger      *slog.Logger

	once    sync.Once
	wake    chan struct{}
	clients [2]*http.Client // public only, and private allowed
}

const (
	// settle is how long a wake-up waits for more notices before a round.
	settle        = 50 * time.Millisecond
	maxInFlight   = 8
	maxRetryDelay = time.Hour
	timeout       = 10 * time.Second
)

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		if d.RetryBase <= 0 {
			d.RetryBase = 5 * time.Second
		}
		if d.RetryWindow <= 0 {
			d.RetryWindow = 26 * time.Hour
		}
		if d.Logger == nil {
			d.Logger = slog.New(slog.DiscardHandler)
		}
		for i, allowPrivate := range []bool{false, true} {
			d.clients[i] = &http.Client{
				Timeout: timeout,
				Transport: &http.Transport{
					Proxy: nil, DialContext: dialer(allowPrivate).DialContext,
					MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute,
				},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
	})
}

// Notify wakes the deliverer: new notices were committed.
func (d *Deliverer) Notify() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	d.init()
	ticks, stop := clock.OrReal(d.Tick)(time.Second)
	defer stop()
	for {
		if _, err := d.Round(ctx); err != nil && ctx.Err() == nil {
			d.Logger.Warn("deliver notices", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		case <-d.wake:
			// Let a burst of changes settle: one round (one commit)
			// delivers them all, and stays off the disk while the
			// changes' receipts are being waited for.
			t := time.NewTimer(settle)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// Round attempts every delivery due now, maxInFlight at a time, records
// every outcome in one transaction, and returns how many it attempted.
func (d *Deliverer) Round(ctx context.Context) (int, error) {
	d.init()
	due, err := d.Store.DueDeliveries(d.Now(), 256)
	if err != nil {
		return 0, err
	}
	notices, err := d.Store.NoticesAfter(256)
	if err != nil || len(due)+len(notices) == 0 {
		return 0, err
	}
	outcomes := make([]outcome, len(due))
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i, dl := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outcomes[i] = d.attempt(ctx, dl)
		})
	}
	published := d.publish(notices)
	wg.Wait()
	return len(due) + len(notices), d.record(outcomes, published)
}

// publish sends notices on NATS in order, and returns the id of the last
// one sent ("" for none): a failure stops there, to be retried from it.
func (d *Deliverer) publish(notices []*gatepassv1.Notice) string {
	last := ""
	for _, n := range notices {
		if d.Publish != nil {
			if err := d.Publish(Subject(n.GetWorkspaceId()), n.GetBody()); err != nil {
				d.Logger.Warn("publish notices on NATS; will retry", "error", err)
				break
			}
		}
		last = n.GetId()
	}
	return last
}

// outcome is one attempt's result, recorded with the round's others.
type outcome struct {
	delivery *gatepassv1.WebhookDelivery
	hook     *gatepassv1.WebhookRecord
	status   int
	err      error
	skip     bool // nothing to record (its webhook is gone)
}

// attempt sends one delivery.
func (d *Deliverer) attempt(ctx context.Context, dl *gatepassv1.WebhookDelivery) outcome {
	var n *gatepassv1.Notice
	var hook *gatepassv1.WebhookRecord
	var allowPrivate bool
	err := d.Store.View(func(tx *store.Tx) error {
		var err error
		if n, err = tx.NoticeByID(dl.GetNoticeId()); err != nil {
			return err
		}
		if hook, err = tx.Webhook(n.GetWorkspaceId(), dl.GetWebhookId()); err != nil {
			return err
		}
		pol, err := tx.Policy(n.GetWorkspaceId())
		allowPrivate = pol.GetAllowPrivateWebhookTargets()
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return outcome{skip: true} // its webhook was deleted with it
	case err != nil:
		return outcome{delivery: dl, hook: hook, err: err}
	}
	status, err := d.post(ctx, hook, allowPrivate, dl.GetId(), n.GetBody())
	return outcome{delivery: dl, hook: hook, status: status, err: err}
}

// post sends a notice body to an endpoint, signed, and returns the HTTP
// status.
func (d *Deliverer) post(ctx context.Context, hook *gatepassv1.WebhookRecord, allowPrivate bool, id string, body []byte) (int, error) {
	ts := d.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.GetWebhook().GetUrl(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatepass-webhooks")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(hook.GetSecret(), id, ts, body))
	client := d.clients[0]
	if allowPrivate {
		client = d.clients[1]
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// record stores the outcomes of a round in one transaction: delivered,
// retried later with backoff, or failed once the retry window has passed.
func (d *Deliverer) record(outcomes []outcome, published string) error {
	now := d.Now()
	return d.Store.Update(func(tx *store.Tx) error {
		if published != "" {
			if err := tx.PutNATSCursor(published); err != nil {
				return err
			}
		}
		for _, o := range outcomes {
			if o.skip {
				continue
			}
			var stored *gatepassv1.WebhookRecord
			if o.hook != nil {
				var err error
				if stored, err = tx.Webhook(o.hook.GetWebhook().GetWorkspaceId(), o.hook.GetWebhook().GetId()); err != nil {
					// Deleted meanwhile, with its deliveries: writing this
					// one back would leave it due for ever.
					continue
				}
			}
			next := d.next(o, now)
			if err := tx.PutDelivery(next, o.delivery); err != nil {
				return err
			}
			if stored == nil {
				continue
			}
			w := stored.GetWebhook()
			w.LastStatus, w.LastAttemptTime = int32(o.status), next.GetLastAttemptTime()
			if err := tx.PutWebhook(stored); err != nil {
				return err
			}
		}
		return nil
	})
}
