package propagation

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/bits"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// DigestSize is the length of a state digest.
const DigestSize = 32

// ErrDigestSize is returned when bytes are not a digest.
var ErrDigestSize = errors.New("state digest must be 32 bytes")

// Digest summarizes a set of token states: the sum, modulo 2^256, of one
// SHA-256 per token over its id, version and status. A sum can be kept up
// to date in O(1) per change (add the new entry, subtract the old one), and
// both the issuer and every validator compute it the same way.
type Digest [DigestSize]byte

// ParseDigest reads a digest from bytes; empty bytes are the empty set.
func ParseDigest(b []byte) (Digest, error) {
	var d Digest
	if len(b) == 0 {
		return d, nil
	}
	if len(b) != DigestSize {
		return d, ErrDigestSize
	}
	copy(d[:], b)
	return d, nil
}

// entry is the hash one token state contributes.
func entry(st *gatepassv1.TokenState) Digest {
	t := st.GetToken()
	return element(t.GetId(), t.GetVersion(), t.GetStatus())
}

func element(id string, version uint64, status gatepassv1.TokenStatus) Digest {
	h := sha256.New()
	h.Write([]byte("gatepass.v1.Checkpoint\n"))
	h.Write([]byte(id))
	var b [13]byte
	binary.BigEndian.PutUint64(b[1:9], version)
	binary.BigEndian.PutUint32(b[9:], uint32(status))
	h.Write(b[:])
	var d Digest
	h.Sum(d[:0])
	return d
}

// Replace moves the digest from holding old (nil: none) to holding next
// (nil: none).
func (d *Digest) Replace(old, next *gatepassv1.TokenState) {
	if old != nil {
		d.sub(entry(old))
	}
	if next != nil {
		d.add(entry(next))
	}
}

// Remove takes out the state of token id at version with status, for a
// caller that holds it decoded rather than as a message.
func (d *Digest) Remove(id string, version uint64, status gatepassv1.TokenStatus) {
	d.sub(element(id, version, status))
}

// add and sub work on big-endian 256-bit numbers, limb by limb.
func (d *Digest) add(e Digest) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		var s uint64
		s, carry = bits.Add64(binary.BigEndian.Uint64(d[i*8:]), binary.BigEndian.Uint64(e[i*8:]), carry)
		binary.BigEndian.PutUint64(d[i*8:], s)
	}
}

func (d *Digest) sub(e Digest) {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		var s uint64
		s, borrow = bits.Sub64(binary.BigEndian.Uint64(d[i*8:]), binary.BigEndian.Uint64(e[i*8:]), borrow)
		binary.BigEndian.PutUint64(d[i*8:], s)
	}
}
