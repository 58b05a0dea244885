package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Webhooks, notices and their deliveries. A notice is written in the
// transaction of the change it tells of, with one delivery per subscribed
// endpoint and one for NATS, so a crash loses none of them; package notify
// delivers them.
var (
	// bucketWebhooks: workspace id, NUL, webhook id → WebhookRecord.
	bucketWebhooks = []byte("webhooks")
	// bucketNotices: notice id → Notice.
	bucketNotices = []byte("notices")
	// bucketDeliveries: delivery id → WebhookDelivery.
	bucketDeliveries = []byte("deliveries")
	// bucketDeliveriesDue: next attempt (8 bytes), delivery id → nil.
	bucketDeliveriesDue = []byte("deliveries_due")
	// bucketWebhookDeliveries: webhook id, NUL, sequence (8 bytes) →
	// delivery id, in the order deliveries were queued.
	bucketWebhookDeliveries = []byte("webhook_deliveries")
)

// NATSTarget is the webhook id of a notice's delivery to NATS
// (gatepass.notice.<workspace>).
const NATSTarget = "nats"

func initNotices(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketWebhooks, bucketNotices, bucketDeliveries, bucketDeliveriesDue, bucketWebhookDeliveries} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func webhookKey(workspaceID, id string) []byte { return []byte(workspaceID + "\x00" + id) }

// PutWebhook stores a webhook with its secret.
func (tx *Tx) PutWebhook(r *gatepassv1.WebhookRecord) error {
	v, err := proto.Marshal(r)
	if err != nil {
		return err
	}
	return tx.btx.Bucket(bucketWebhooks).Put(webhookKey(r.GetWebhook().GetWorkspaceId(), r.GetWebhook().GetId()), v)
}

// Webhook returns a webhook of a workspace.
func (tx *Tx) Webhook(workspaceID, id string) (*gatepassv1.WebhookRecord, error) {
	v := tx.btx.Bucket(bucketWebhooks).Get(webhookKey(workspaceID, id))
	if v == nil {
		return nil, ErrNotFound
	}
	r := &gatepassv1.WebhookRecord{}
	return r, proto.Unmarshal(v, r)
}

// Webhooks lists a workspace's webhooks: O(log n + k).
func (tx *Tx) Webhooks(workspaceID string) ([]*gatepassv1.WebhookRecord, error) {
	var out []*gatepassv1.WebhookRecord
	prefix := []byte(workspaceID + "\x00")
	c := tx.btx.Bucket(bucketWebhooks).Cursor()
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r := &gatepassv1.WebhookRecord{}
		if err := proto.Unmarshal(v, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// DeleteWebhook removes a webhook and every delivery to it.
func (tx *Tx) DeleteWebhook(workspaceID, id string) error {
	if tx.btx.Bucket(bucketWebhooks).Get(webhookKey(workspaceID, id)) == nil {
		return ErrNotFound
	}
	prefix := []byte(id + "\x00")
	index := tx.btx.Bucket(bucketWebhookDeliveries)
	var keys, ids [][]byte
	c := index.Cursor()
	for k, v := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, v = c.Next() {
		keys, ids = append(keys, append([]byte(nil), k...)), append(ids, append([]byte(nil), v...))
	}
	for i, k := range keys {
		d, err := tx.Delivery(string(ids[i]))
		if err == nil {
			_ = tx.btx.Bucket(bucketDeliveriesDue).Delete(dueKey(d))
			_ = tx.btx.Bucket(bucketDeliveries).Delete([]byte(d.GetId()))
		}
		if err := index.Delete(k); err != nil {
			return err
		}
	}
	return tx.btx.Bucket(bucketWebhooks).Delete(webhookKey(workspaceID, id))
}

// Notify stores a notice and queues one delivery for every webhook of its
// workspace that takes its type, and one for NATS.
func (tx *Tx) Notify(n *gatepassv1.Notice, now time.Time) error {
	n.Id = NewID("ntc", now)
	n.Time = timestamppb.New(now)
	v, err := proto.Marshal(n)
	if err != nil {
		return err
	}
	if err := tx.btx.Bucket(bucketNotices).Put([]byte(n.GetId()), v); err != nil {
		return err
	}
	hooks, err := tx.Webhooks(n.GetWorkspaceId())
	if err != nil {
		return err
	}
	targets := []string{NATSTarget}
	for _, h := range hooks {
		if takes(h.GetWebhook(), n.GetType()) {
			targets = append(targets, h.GetWebhook().GetId())
		}
	}
	for _, target := range targets {
		d := &gatepassv1.WebhookDelivery{
			Id: NewID("msg", now), WebhookId: target, NoticeId: n.GetId(), Type: NoticeName(n.GetType()),
			State: gatepassv1.DeliveryState_DELIVERY_STATE_PENDING, CreateTime: n.GetTime(), NextAttemptTime: n.GetTime(),
		}
		if err := tx.PutDelivery(d, nil); err != nil {
			return err
		}
		index := tx.btx.Bucket(bucketWebhookDeliveries)
		seq, err := index.NextSequence()
		if err != nil {
			return err
		}
		if err := index.Put(binary.BigEndian.AppendUint64([]byte(target+"\x00"), seq), []byte(d.GetId())); err != nil {
			return err
		}
	}
	return nil
}

func takes(w *gatepassv1.Webhook, t gatepassv1.NoticeType) bool {
	if len(w.GetTypes()) == 0 {
		return true
	}
	for _, x := range w.GetTypes() {
		if x == t {
			return true
		}
	}
	return false
}

// NoticeName is a notice type's wire name, e.g. "token.revoked".
func NoticeName(t gatepassv1.NoticeType) string {
	switch t {
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRING:
		return "token.expiring"
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_EXPIRED:
		return "token.expired"
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_DISABLED:
		return "token.disabled"
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_REVOKED:
		return "token.revoked"
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_LEAKED:
		return "token.leaked"
	case gatepassv1.NoticeType_NOTICE_TYPE_TOKEN_ATTEMPT:
		return "token.attempt"
	case gatepassv1.NoticeType_NOTICE_TYPE_MEMBER_REMOVED:
		return "member.removed"
	case gatepassv1.NoticeType_NOTICE_TYPE_REVIEW_DIGEST:
		return "review.digest"
	}
	return "unknown"
}

func dueKey(d *gatepassv1.WebhookDelivery) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(d.GetNextAttemptTime().AsTime().UnixNano()))
	return append(k, d.GetId()...)
}

// PutDelivery stores a delivery; prev is its stored version (nil if new),
// whose place in the due index it leaves. A pending delivery is due at its
// next attempt; others are not due.
func (tx *Tx) PutDelivery(d, prev *gatepassv1.WebhookDelivery) error {
	due := tx.btx.Bucket(bucketDeliveriesDue)
	if prev != nil && prev.GetState() == gatepassv1.DeliveryState_DELIVERY_STATE_PENDING {
		if err := due.Delete(dueKey(prev)); err != nil {
			return err
		}
	}
	if d.GetState() == gatepassv1.DeliveryState_DELIVERY_STATE_PENDING {
		if err := due.Put(dueKey(d), nil); err != nil {
			return err
		}
	}
	v, err := proto.Marshal(d)
	if err != nil {
		return err
	}
	return tx.btx.Bucket(bucketDeliveries).Put([]byte(d.GetId()), v)
}

// Delivery returns a delivery.
func (tx *Tx) Delivery(id string) (*gatepassv1.WebhookDelivery, error) {
	v := tx.btx.Bucket(bucketDeliveries).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	d := &gatepassv1.WebhookDelivery{}
	return d, proto.Unmarshal(v, d)
}

// NoticeByID returns a stored notice.
func (tx *Tx) NoticeByID(id string) (*gatepassv1.Notice, error) {
	v := tx.btx.Bucket(bucketNotices).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	n := &gatepassv1.Notice{}
	return n, proto.Unmarshal(v, n)
}

// DueDeliveries returns up to limit pending deliveries whose next attempt
// is at or before now, oldest first: O(log n + limit).
func (s *Store) DueDeliveries(now time.Time, limit int) ([]*gatepassv1.WebhookDelivery, error) {
	var out []*gatepassv1.WebhookDelivery
	end := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	err := s.View(func(tx *Tx) error {
		c := tx.btx.Bucket(bucketDeliveriesDue).Cursor()
		for k, _ := c.First(); len(k) > 8 && bytes.Compare(k[:8], end) <= 0 && len(out) < limit; k, _ = c.Next() {
			d, err := tx.Delivery(string(k[8:]))
			if err != nil {
				return fmt.Errorf("due delivery %s: %w", k[8:], err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Deliveries lists a webhook's deliveries, newest first, at most limit.
func (tx *Tx) Deliveries(webhookID string, limit int) ([]*gatepassv1.WebhookDelivery, error) {
	var out []*gatepassv1.WebhookDelivery
	prefix := []byte(webhookID + "\x00")
	c := tx.btx.Bucket(bucketWebhookDeliveries).Cursor()
	k, _ := c.Seek([]byte(webhookID + "\x01"))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
		d, err := tx.Delivery(string(c.Bucket().Get(k)))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
