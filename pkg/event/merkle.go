package event

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

// Batches of events are signed once: the events of a commit are the leaves
// of a Merkle tree as RFC 9162 builds it, and the signature covers the
// root and the number of leaves. Each envelope carries its leaf's
// inclusion path, so it is checked on its own, as before, but the issuer
// signs once per commit and a validator checks one signature per batch it
// meets, however many of its events it reads.

const batchDomain = "gatepass.v1.EventBatch\n"

// errBadProof is returned for an inclusion path that does not fit its
// index and size; the caller reports it as a bad signature.
var errBadProof = errors.New("bad batch proof")

// leafHash is the tree's hash of one payload.
func leafHash(payload []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write([]byte(domain))
	h.Write(payload)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right []byte) [32]byte {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left)
	copy(buf[1+sha256.Size:], right)
	return sha256.Sum256(buf[:])
}

// buildTree returns the root of leaves and fills paths[i] with leaf i's
// inclusion path (RFC 9162 2.1.3.1), leaf level first.
func buildTree(leaves [][32]byte, paths [][][]byte) [32]byte {
	n := len(leaves)
	if n == 1 {
		return leaves[0]
	}
	k := 1 << (bits.Len(uint(n-1)) - 1) // the largest power of two below n
	left := buildTree(leaves[:k], paths[:k])
	right := buildTree(leaves[k:], paths[k:])
	for i := range k {
		paths[i] = append(paths[i], right[:])
	}
	for i := k; i < n; i++ {
		paths[i] = append(paths[i], left[:])
	}
	return nodeHash(left[:], right[:])
}

// rootOf computes the root a leaf's inclusion path leads to (RFC 9162
// 2.1.3.2), or fails when the path does not fit index and size.
func rootOf(leaf [32]byte, index, size uint64, path [][]byte) ([32]byte, error) {
	if size == 0 || index >= size {
		return [32]byte{}, errBadProof
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 || len(p) != sha256.Size {
			return [32]byte{}, errBadProof
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r[:])
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r[:], p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return [32]byte{}, errBadProof
	}
	return r, nil
}

// rootMessage is what a batch signature signs, after batchDomain.
func rootMessage(size uint64, root [32]byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 40), size), root[:]...)
}

// BatchLimit is the most events one signature covers: an envelope carries
// at most log2(BatchLimit) hashes of path (four, 136 bytes), and a
// signature costs the issuer a sixteenth of what it did per event.
const BatchLimit = 16

// SealBatch seals payloads (events already marshaled), signing each run
// of up to BatchLimit of them once.
func (s *Signer) SealBatch(payloads [][]byte) ([][]byte, error) {
	out := make([][]byte, 0, len(payloads))
	for lo := 0; lo < len(payloads); lo += BatchLimit {
		chunk := payloads[lo:min(lo+BatchLimit, len(payloads))]
		leaves := make([][32]byte, len(chunk))
		for i, p := range chunk {
			leaves[i] = leafHash(p)
		}
		paths := make([][][]byte, len(chunk))
		root := buildTree(leaves, paths)
		size := uint64(len(chunk))
		sig := s.sign(batchDomain, rootMessage(size, root))
		for i, p := range chunk {
			data, err := proto.Marshal(&gatepassv1.Envelope{Payload: p, Signature: sig, Signer: s.pub,
				Batch: &gatepassv1.BatchProof{Index: uint64(i), Size: size, Path: paths[i]}})
			if err != nil {
				return nil, fmt.Errorf("seal event: %w", err)
			}
			out = append(out, data)
		}
	}
	return out, nil
}

// signed returns the message env's signature covers and the domain
// before it: the payload itself, or the root its batch proof leads to.
func signed(env *gatepassv1.Envelope) (prefix string, msg []byte, err error) {
	b := env.GetBatch()
	if b == nil {
		return domain, env.GetPayload(), nil
	}
	root, err := rootOf(leafHash(env.GetPayload()), b.GetIndex(), b.GetSize(), b.GetPath())
	if err != nil {
		return "", nil, err
	}
	return batchDomain, rootMessage(b.GetSize(), root), nil
}

// knownRoots remembers batch signatures already checked, so the other
// events of a batch cost a validator a few hashes each. Bounded: it
// starts over when full.
type knownRoots struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

const knownRootsMax = 4096

// rootKey identifies a checked batch signature: what it signs and the
// signature itself.
func rootKey(msg, sig []byte) string { return string(msg) + string(sig) }

func (k *knownRoots) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.seen[key]
	return ok
}

func (k *knownRoots) add(keys ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen = map[string]struct{}{}
	}
	if len(k.seen)+len(keys) > knownRootsMax {
		clear(k.seen)
	}
	for _, key := range keys {
		k.seen[key] = struct{}{}
	}
}
