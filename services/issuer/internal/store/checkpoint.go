package store

import (
	"encoding/binary"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// initDigest computes the state digest of a database written before it
// was kept (one scan, once).
func initDigest(btx *bolt.Tx) error {
	meta := btx.Bucket(bucketMeta)
	if meta.Get(keyDigest) != nil {
		return nil
	}
	var d propagation.Digest
	var n uint64
	err := btx.Bucket(bucketTokens).ForEach(func(_, v []byte) error {
		st := &gatepassv1.TokenState{}
		if err := proto.Unmarshal(v, st); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		d.Replace(nil, st)
		n++
		return nil
	})
	if err != nil {
		return err
	}
	return putDigest(meta, d, n)
}

func putDigest(meta *bolt.Bucket, d propagation.Digest, n uint64) error {
	if err := meta.Put(keyDigest, d[:]); err != nil {
		return err
	}
	return meta.Put(keyTokenCount, binary.BigEndian.AppendUint64(nil, n))
}

func (tx *Tx) digest() (propagation.Digest, uint64, error) {
	meta := tx.btx.Bucket(bucketMeta)
	d, err := propagation.ParseDigest(meta.Get(keyDigest))
	return d, tokenCount(meta), err
}

// tokenCount is the number of tokens putDigest recorded (0 before any).
func tokenCount(meta *bolt.Bucket) uint64 {
	if v := meta.Get(keyTokenCount); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// updateDigest moves the state digest from old (nil for a new token) to st.
func (tx *Tx) updateDigest(old, st *gatepassv1.TokenState) error {
	d, n, err := tx.digest()
	if err != nil {
		return err
	}
	d.Replace(old, st)
	if old == nil {
		n++
	}
	return putDigest(tx.btx.Bucket(bucketMeta), d, n)
}

// checkpoint summarizes the state as of this transaction: every event
// queued so far (log index up to the outbox's sequence) is covered.
func (tx *Tx) checkpoint() (*gatepassv1.Checkpoint, error) {
	d, n, err := tx.digest()
	if err != nil {
		return nil, err
	}
	return &gatepassv1.Checkpoint{LogIndex: tx.btx.Bucket(bucketOutbox).Sequence(), Tokens: n, Digest: d[:]}, nil
}
