package store

import (
	"bytes"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

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
