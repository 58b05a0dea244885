package store

import (
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

// keyPruneCursor is the audit key up to which PruneAudit has looked.
var keyPruneCursor = []byte("audit_prune_cursor")

// PruneAudit deletes audit records of action older than before, looking at
// most at limit records in one transaction. It resumes where the last call
// stopped, so each record is looked at once: the cost follows new records,
// not the size of the trail. Other records (lifecycle changes) are kept.
// It returns how many it deleted and whether it stopped at limit.
func (s *Store) PruneAudit(action string, before time.Time, limit int) (deleted int, more bool, err error) {
	err = s.Update(func(tx *Tx) error {
		deleted, more = 0, false
		meta, b := tx.btx.Bucket(bucketMeta), tx.btx.Bucket(bucketAudit)
		c := b.Cursor()
		k, v := c.First()
		if cur := meta.Get(keyPruneCursor); cur != nil {
			k, v = c.Seek(cur)
		}
		var last []byte
		var doomed [][]byte
		for n := 0; k != nil; k, v = c.Next() {
			if n == limit {
				more = true
				break
			}
			n++
			a := &gatepassv1.AuditEvent{}
			if err := proto.Unmarshal(v, a); err != nil {
				return err
			}
			if !a.GetTime().AsTime().Before(before) {
				break
			}
			last = append(last[:0], k...)
			if a.GetAction() == action {
				doomed = append(doomed, append([]byte(nil), k...))
			}
		}
		// Deleted after the scan: deleting under a moving cursor skips keys.
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		if last == nil {
			return nil
		}
		return meta.Put(keyPruneCursor, last)
	})
	return deleted, more, err
}
