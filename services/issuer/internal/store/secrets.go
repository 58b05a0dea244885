package store

import (
	"fmt"
	"sync"

	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// secretIndex finds a token's id by the SHA-256 of its secret, which is
// how every issuer RPC authenticates its caller. It lives in memory: built
// at open from bucketTokenSecrets, and changed by a commit once it has
// committed, so it never names a token the database does not hold (a
// reader whose transaction began before the commit may still not find
// that token, as before).
//
// It was a bbolt bucket keyed by the digest. Digests are random, so past
// ~100k tokens every create put its entry on a page of its own (and the
// branch pages above it): a commit of twenty creates among 100k tokens
// wrote 88 pages, 55 now (BenchmarkCommitAtSize), and at 1.4M tokens such
// a commit took 4.9–5.8 ms (p50) instead of 3.0–3.8 ms. Memory instead:
// about 70 bytes per token, no pointers (the garbage collector never
// scans it), 70 MB at 1M; the digests by token id, which a create
// appends to, are what it is built from.
type secretIndex struct {
	mu  sync.RWMutex
	ids map[token.Digest]shortID
	// long holds ids longer than a shortID (NewID's are 26 bytes; none
	// longer is made today).
	long map[token.Digest]string
}

// shortID is a token id held without a pointer.
type shortID struct {
	n uint8
	b [31]byte
}

// secretChange is a token's secret digest as a commit changes it: added
// for a new token, replaced when a token's digest changes.
type secretChange struct {
	old, next token.Digest
	hasOld    bool
	id        string
}

func newSecretIndex(size int) *secretIndex {
	return &secretIndex{ids: make(map[token.Digest]shortID, size), long: map[token.Digest]string{}}
}

// get returns the id of the token whose secret has digest d, if any.
func (x *secretIndex) get(d token.Digest) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if s, ok := x.ids[d]; ok {
		return string(s.b[:s.n]), true
	}
	id, ok := x.long[d]
	return id, ok
}

// apply records what a commit changed; call it only once the commit has
// succeeded. Two commits may apply in the other order than they
// committed; if both changed one token's digest, an entry for the digest
// it no longer has can stay behind. Lookups compare the digest the token
// holds (TokenByDigest), so such an entry finds nothing.
func (x *secretIndex) apply(changes []secretChange) {
	if len(changes) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range changes {
		if c.hasOld {
			delete(x.ids, c.old)
			delete(x.long, c.old)
		}
		putID(x, c.next, c.id)
	}
}

// putID adds an entry; the caller holds x.mu or owns x.
func putID[ID string | []byte](x *secretIndex, d token.Digest, id ID) {
	if len(id) > len(shortID{}.b) {
		x.long[d] = string(id)
		return
	}
	s := shortID{n: uint8(len(id))}
	copy(s.b[:], id)
	x.ids[d] = s
}

// loadSecrets builds the index from bucketTokenSecrets: the digests alone,
// about a tenth of the token records (reading those took 18 s at 1.5M
// tokens with nothing of the file in the page cache, 2 s with all of it).
func loadSecrets(btx *bolt.Tx) (*secretIndex, error) {
	x := newSecretIndex(int(min(tokenCount(btx.Bucket(bucketMeta)), 1<<30)))
	err := btx.Bucket(bucketTokenSecrets).ForEach(func(k, v []byte) error {
		if len(v) == len(token.Digest{}) {
			putID(x, token.Digest(v), k)
		}
		return nil
	})
	return x, err
}

// initTokenSecrets fills bucketTokenSecrets from the token records the
// first time a database is opened without it.
func initTokenSecrets(btx *bolt.Tx) error {
	if btx.Bucket(bucketTokenSecrets) != nil {
		return nil
	}
	b, err := btx.CreateBucket(bucketTokenSecrets)
	if err != nil {
		return err
	}
	b.FillPercent = seqFill // token ids come in order
	return btx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
		d, ok, err := secretOf(v)
		if err != nil {
			return fmt.Errorf("decode token %q: %w", k, err)
		}
		if !ok {
			return nil
		}
		return b.Put(k, d[:])
	})
}

// secretOf reads the secret_sha256 field of an encoded TokenState (the
// last one, as proto.Unmarshal would).
func secretOf(v []byte) (d token.Digest, ok bool, err error) {
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return d, false, protowire.ParseError(n)
		}
		v = v[n:]
		m := protowire.ConsumeFieldValue(num, typ, v)
		if m < 0 {
			return d, false, protowire.ParseError(m)
		}
		if num == 2 && typ == protowire.BytesType {
			b, _ := protowire.ConsumeBytes(v)
			ok = len(b) == len(d)
			copy(d[:], b)
		}
		v = v[m:]
	}
	return d, ok, nil
}
