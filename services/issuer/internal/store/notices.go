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

// keyNATSCursor holds the id of the last notice published on NATS
// (gatepass.notice.<workspace>): notices are published in id order from
// there, with no delivery record of their own.
var keyNATSCursor = []byte("nats_notice_cursor")

func initNotices(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketWebhooks, bucketNotices, bucketDeliveries, bucketDeliveriesDue, bucketWebhookDeliveries} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// Notify stores a notice and queues one delivery for every webhook of its
// workspace that takes its type; NATS gets every notice in order (see
// NoticesAfter).
func (tx *Tx) Notify(n *gatepassv1.Notice, now time.Time) error {
	seq, err := tx.btx.Bucket(bucketNotices).NextSequence()
	if err != nil {
		return err
	}
	// Ids in commit order, so NATS gets notices in the order they happened.
	n.Id = fmt.Sprintf("ntc_%016x", seq)
	n.Time = timestamppb.New(now)
	if err := put(tx, bucketNotices, n.GetId(), n); err != nil {
		return err
	}
	hooks, err := tx.Webhooks(n.GetWorkspaceId())
	if err != nil {
		return err
	}
	var targets []string
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

// NoticeByID returns a stored notice.
func (tx *Tx) NoticeByID(id string) (*gatepassv1.Notice, error) {
	return get(tx, bucketNotices, id, &gatepassv1.Notice{})
}

// keyDigestPrefix + workspace id holds the time of the workspace's last
// review digest (Unix nanoseconds).
const keyDigestPrefix = "review_digest/"

// LastDigest returns when a workspace's last review digest was sent (zero
// if never).
func (tx *Tx) LastDigest(workspaceID string) time.Time {
	v := tx.btx.Bucket(bucketMeta).Get([]byte(keyDigestPrefix + workspaceID))
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v)))
}

// PutLastDigest records when a workspace's review digest was sent.
func (tx *Tx) PutLastDigest(workspaceID string, at time.Time) error {
	return tx.btx.Bucket(bucketMeta).Put([]byte(keyDigestPrefix+workspaceID), binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
}

// NATSCursor is the id of the last notice published on NATS ("" for none).
func (tx *Tx) NATSCursor() string {
	return string(tx.btx.Bucket(bucketMeta).Get(keyNATSCursor))
}

// PutNATSCursor records the last notice published on NATS.
func (tx *Tx) PutNATSCursor(id string) error {
	return tx.btx.Bucket(bucketMeta).Put(keyNATSCursor, []byte(id))
}

// NoticesAfter returns up to limit notices after the NATS cursor, oldest
// first (notice ids sort by time).
func (s *Store) NoticesAfter(limit int) ([]*gatepassv1.Notice, error) {
	var out []*gatepassv1.Notice
	err := s.View(func(tx *Tx) error {
		c := tx.btx.Bucket(bucketNotices).Cursor()
		cursor := []byte(tx.NATSCursor())
		k, v := c.Seek(cursor)
		if k != nil && bytes.Equal(k, cursor) {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			n := &gatepassv1.Notice{}
			if err := proto.Unmarshal(v, n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}
