package store

import (
	"bytes"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

func webhookKey(workspaceID, id string) []byte { return []byte(workspaceID + "\x00" + id) }

// PutWebhook stores a webhook with its secret.
func (tx *Tx) PutWebhook(r *gatepassv1.WebhookRecord) error {
	return put(tx, bucketWebhooks, string(webhookKey(r.GetWebhook().GetWorkspaceId(), r.GetWebhook().GetId())), r)
}

// Webhook returns a webhook of a workspace,
// nil when there is none.
func (tx *Tx) Webhook(workspaceID, id string) (*gatepassv1.WebhookRecord, error) {
	r, err := get(tx, bucketWebhooks, string(webhookKey(workspaceID, id)), &gatepassv1.WebhookRecord{})
	if err != nil {
		return nil, err
	}
	return r, nil
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
