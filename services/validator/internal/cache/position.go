package cache

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Position is where the cache stands in the stream.
type Position struct {
	// Sequence is the last stream sequence applied.
	Sequence uint64
	// StreamCreated identifies the stream instance the sequence belongs to.
	StreamCreated time.Time
	// Verified is true once a checkpoint of this instance matched the
	// cache: a new instance (a recreated stream) holds the issuer's whole
	// state only from the issuer's first checkpoint in it.
	Verified bool
}

// Position returns the stored position.
func (c *Cache) Position() (Position, error) {
	var p Position
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		p.Sequence = u64(b.Get(keySeq))
		if v := b.Get(keyCreated); v != nil {
			if err := p.StreamCreated.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("decode stream creation time: %w", err)
			}
			p.Verified = string(b.Get(keyVerifiedInstance)) == string(v)
		}
		return nil
	})
	return p, err
}

// Rewind sets the position to the start of a (new) stream instance,
// keeping the cached states: replaying the stream over them is safe because
// only newer versions are applied.
func (c *Cache) Rewind(created time.Time) error {
	if err := c.Flush(); err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error { return rewind(tx.Bucket(bucketMeta), created) })
}

func rewind(meta *bolt.Bucket, created time.Time) error {
	v, err := created.MarshalBinary()
	if err != nil {
		return err
	}
	if string(meta.Get(keyCreated)) != string(v) {
		if err := meta.Delete(keyVerifiedInstance); err != nil {
			return err
		}
	}
	if err := meta.Put(keyCreated, v); err != nil {
		return err
	}
	return meta.Put(keySeq, make([]byte, 8))
}

// Wipe forgets every state and starts over at the beginning of a stream
// instance: for a cache that disagrees with a checkpoint or cannot be read.
func (c *Cache) Wipe(created time.Time) error {
	if err := c.Flush(); err != nil {
		return err
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTokens, bucketProjects} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyDigest, keyCount, keyVerified, keyVerifiedInstance} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return rewind(meta, created)
	})
	if err == nil {
		c.x.reset()
	}
	return err
}
