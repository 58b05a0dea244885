package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

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
	return put(tx, bucketDeliveries, d.GetId(), d)
}

// Delivery returns a delivery.
func (tx *Tx) Delivery(id string) (*gatepassv1.WebhookDelivery, error) {
	return get(tx, bucketDeliveries, id, &gatepassv1.WebhookDelivery{})
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
	var v []byte
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
		d, err := tx.Delivery(string(v))
		if errors.Is(err, ErrNotFound) {
			continue // pruned
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
