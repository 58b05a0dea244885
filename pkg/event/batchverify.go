package event

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"

	"filippo.io/edwards25519"
)

// sameKeyBatch checks many Ed25519 signatures made with one key at once.
// It checks the cofactored batch equation
//
//	[8]( [Σ zᵢsᵢ]B − Σ [zᵢ]Rᵢ − [Σ zᵢkᵢ]A ) = 0,  kᵢ = SHA-512(Rᵢ ‖ A ‖ Mᵢ)
//
// with random 128-bit zᵢ, so a forged signature passes with probability
// about 2⁻¹²⁸. Because every signature has the same key A, its terms
// collapse into one: the multi-scalar multiplication has n+2 points, not
// 2n+1 as in a general batch verifier, and A is decoded once. A false
// answer says only that some signature is bad; the caller then checks
// them one by one.
type sameKeyBatch struct {
	key    ed25519.PublicKey
	a      *edwards25519.Point
	sumS   *edwards25519.Scalar
	sumK   *edwards25519.Scalar
	zs     []*edwards25519.Scalar
	negRs  []*edwards25519.Point
	broken bool
}

func newSameKeyBatch(key ed25519.PublicKey, n int) *sameKeyBatch {
	b := &sameKeyBatch{key: key, sumS: edwards25519.NewScalar(), sumK: edwards25519.NewScalar(),
		zs: make([]*edwards25519.Scalar, 0, n), negRs: make([]*edwards25519.Point, 0, n)}
	a, err := new(edwards25519.Point).SetBytes(key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		b.broken = true
		return b
	}
	b.a = a
	return b
}

// add queues signature sig of message msg.
func (b *sameKeyBatch) add(msg, sig []byte) {
	if b.broken {
		return
	}
	if len(sig) != ed25519.SignatureSize {
		b.broken = true
		return
	}
	r, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil {
		b.broken = true
		return
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		b.broken = true
		return
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(b.key)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil)) // 64 bytes: cannot fail
	var zb [32]byte
	if _, err := rand.Read(zb[:16]); err != nil {
		b.broken = true
		return
	}
	z, _ := edwards25519.NewScalar().SetCanonicalBytes(zb[:]) // < 2¹²⁸: canonical
	b.sumS.MultiplyAdd(z, s, b.sumS)
	b.sumK.MultiplyAdd(z, k, b.sumK)
	b.zs = append(b.zs, z)
	b.negRs = append(b.negRs, new(edwards25519.Point).Negate(r))
}

// verify reports whether every signature added is good (false for none).
func (b *sameKeyBatch) verify() bool {
	if b.broken || len(b.zs) == 0 {
		return false
	}
	scalars := append([]*edwards25519.Scalar{b.sumS, edwards25519.NewScalar().Negate(b.sumK)}, b.zs...)
	points := append([]*edwards25519.Point{edwards25519.NewGeneratorPoint(), b.a}, b.negRs...)
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}
