package store

import (
	"bytes"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

// PruneNotices deletes up to limit notices and finished deliveries made
// before before, oldest first (ids sort by time), and the index entries
// left behind; more reports whether some may remain. Pending deliveries
// are kept until they finish.
func (s *Store) PruneNotices(before time.Time, limit int) (n int, more bool, err error) {
	err = s.Update(func(tx *Tx) error {
		n, more = 0, false
		// Keys are collected, then deleted: a bbolt cursor must not move
		// on after deleting under it.
		var gone [][]byte
		notices := tx.btx.Bucket(bucketNotices)
		published := []byte(tx.NATSCursor())
		c := notices.Cursor()
		for k, v := c.First(); k != nil && len(gone) <= limit && bytes.Compare(k, published) <= 0; k, v = c.Next() {
			nt := &gatepassv1.Notice{}
			if err := proto.Unmarshal(v, nt); err != nil {
				return err
			}
			if !nt.GetTime().AsTime().Before(before) {
				break
			}
			gone = append(gone, append([]byte(nil), k...))
		}
		var done [][]byte
		deliveries := tx.btx.Bucket(bucketDeliveries)
		dc := deliveries.Cursor()
		for k, v := dc.First(); k != nil && len(gone)+len(done) <= limit; k, v = dc.Next() {
			d := &gatepassv1.WebhookDelivery{}
			if err := proto.Unmarshal(v, d); err != nil {
				return err
			}
			if !d.GetCreateTime().AsTime().Before(before) {
				break
			}
			if d.GetState() != gatepassv1.DeliveryState_DELIVERY_STATE_PENDING {
				done = append(done, append([]byte(nil), k...))
			}
		}
		if len(gone)+len(done) > limit {
			more = true
			gone = gone[:min(len(gone), limit)]
			done = done[:min(len(done), limit-len(gone))]
		}
		for _, k := range gone {
			if err := notices.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range done {
			if err := deliveries.Delete(k); err != nil {
				return err
			}
		}
		n = len(gone) + len(done)
		return tx.pruneDeliveryIndex()
	})
	return n, more, err
}

// pruneDeliveryIndex drops each webhook's oldest index entries whose
// delivery is gone (pruning removes the oldest first).
func (tx *Tx) pruneDeliveryIndex() error {
	index := tx.btx.Bucket(bucketWebhookDeliveries)
	deliveries := tx.btx.Bucket(bucketDeliveries)
	var gone [][]byte
	c := index.Cursor()
	for k, v := c.First(); k != nil; {
		if deliveries.Get(v) != nil {
			// Skip to the next webhook: its later entries are newer.
			webhook, _, _ := bytes.Cut(k, []byte{0})
			k, v = c.Seek(append(append([]byte(nil), webhook...), 1))
			continue
		}
		gone = append(gone, append([]byte(nil), k...))
		k, v = c.Next()
	}
	for _, k := range gone {
		if err := index.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
