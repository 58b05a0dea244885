package cache

import (
	"encoding/binary"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	bolt "go.etcd.io/bbolt"
)

// tally is the cache's position and integrity state, kept in the meta
// bucket and moved by every batch in the batch's own transaction: the last
// applied sequence, the multiset digest and count of token states, and the
// last checkpoint that matched them.
type tally struct {
	meta             *bolt.Bucket
	seq              uint64
	digest           propagation.Digest
	count, verified  uint64
	instance         []byte
	instanceVerified bool
}

func readTally(meta *bolt.Bucket) (*tally, error) {
	digest, err := propagation.ParseDigest(meta.Get(keyDigest))
	if err != nil {
		return nil, err
	}
	m := &tally{
		meta: meta, seq: u64(meta.Get(keySeq)), digest: digest,
		count: u64(meta.Get(keyCount)), verified: u64(meta.Get(keyVerified)),
		instance: meta.Get(keyCreated),
	}
	m.instanceVerified = m.instance != nil && string(meta.Get(keyVerifiedInstance)) == string(m.instance)
	return m, nil
}

// replace accounts for st taking the place of old (nil: a new token).
func (m *tally) replace(old *Entry, st *gatepassv1.TokenState) {
	if old == nil {
		m.count++
	} else {
		m.digest.Remove(old.ID, old.Version, old.Status)
	}
	m.digest.Replace(nil, st)
}

// check compares a checkpoint with the tally: a match verifies everything
// up to its log index (and the stream instance); a mismatch is reported.
func (m *tally) check(cp *gatepassv1.Checkpoint, res *Result) {
	if cp.GetLogIndex() < m.verified {
		res.Ignored++ // an older checkpoint, replayed
		return
	}
	// A checkpoint at the index already verified still verifies a new
	// instance (the issuer's first in a recreated stream).
	if cp.GetTokens() != m.count || string(cp.GetDigest()) != string(m.digest[:]) {
		res.Mismatch = cp
		return
	}
	m.verified = cp.GetLogIndex()
	res.Applied++
	if m.instance != nil && !res.InstanceVerified {
		res.InstanceVerified = true
	}
}

// write stores the tally; instanceVerified marks the instance checked.
func (m *tally) write(instanceVerified bool) error {
	if instanceVerified && !m.instanceVerified && m.instance != nil {
		if err := m.meta.Put(keyVerifiedInstance, m.instance); err != nil {
			return err
		}
	}
	for _, kv := range []struct {
		k []byte
		v []byte
	}{
		{keyDigest, m.digest[:]},
		{keyCount, binary.BigEndian.AppendUint64(nil, m.count)},
		{keyVerified, binary.BigEndian.AppendUint64(nil, m.verified)},
		{keySeq, binary.BigEndian.AppendUint64(nil, m.seq)},
	} {
		if err := m.meta.Put(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}
