package store

import (
	"bytes"
	"encoding/binary"
	"time"
)

// keyBoundPrefix + a validator's public key holds the answer bound it last
// reported, when that is above the issuer's maximum (nanoseconds): a
// receipt after a restart must not assume the maximum for it.
const keyBoundPrefix = "validator_bound/"

// ValidatorBounds returns the kept answer bounds by validator key.
func (s *Store) ValidatorBounds() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	err := s.View(func(tx *Tx) error {
		c := tx.btx.Bucket(bucketMeta).Cursor()
		prefix := []byte(keyBoundPrefix)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 8 {
				out[string(k[len(prefix):])] = time.Duration(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	return out, err
}

// PutValidatorBound keeps a validator's answer bound; 0 forgets it.
func (s *Store) PutValidatorBound(key string, bound time.Duration) error {
	return s.Update(func(tx *Tx) error {
		meta := tx.btx.Bucket(bucketMeta)
		if bound <= 0 {
			return meta.Delete([]byte(keyBoundPrefix + key))
		}
		return meta.Put([]byte(keyBoundPrefix+key), binary.BigEndian.AppendUint64(nil, uint64(bound)))
	})
}
