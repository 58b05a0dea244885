package store

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Scheduled is a lifecycle change due at a time.
type Scheduled struct {
	At      time.Time
	Action  byte // 'd' disable, 'r' revoke
	TokenID string
	key     []byte
}

func scheduleKey(at time.Time, action byte, tokenID string) []byte {
	k := make([]byte, 8, 9+len(tokenID))
	binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
	k = append(k, action)
	return append(k, tokenID...)
}

// Schedule records that action is due on a token at at. Stored in the same
// transaction as the change that asks for it, it survives restarts.
func (tx *Tx) Schedule(at time.Time, action byte, tokenID string) error {
	return tx.btx.Bucket(bucketSchedules).Put(scheduleKey(at, action, tokenID), nil)
}

// Unschedule forgets a scheduled change.
func (tx *Tx) Unschedule(s Scheduled) error {
	return tx.btx.Bucket(bucketSchedules).Delete(s.key)
}

// Due returns the changes due at or before now, oldest first.
func (s *Store) Due(now time.Time) ([]Scheduled, error) {
	var out []Scheduled
	limit := make([]byte, 8)
	binary.BigEndian.PutUint64(limit, uint64(now.UnixNano()))
	err := s.View(func(tx *Tx) error {
		c := tx.btx.Bucket(bucketSchedules).Cursor()
		for k, _ := c.First(); len(k) > 9 && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
			out = append(out, Scheduled{
				At:      time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))),
				Action:  k[8],
				TokenID: string(k[9:]),
				key:     append([]byte(nil), k...),
			})
		}
		return nil
	})
	return out, err
}
