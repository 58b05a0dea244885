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
	zs     []edwards25519.Scalar // values, not pointers: one allocation each
	negRs  []edwards25519.Point
	broken bool
}

func newSameKeyBatch(key ed25519.PublicKey, n int) *sameKeyBatch {
	b := &sameKeyBatch{key: key, sumS: edwards25519.NewScalar(), sumK: edwards25519.NewScalar(),
		zs: make([]edwards25519.Scalar, 0, n), negRs: make([]edwards25519.Point, 0, n)}
	a, err := new(edwards25519.Point).SetBytes(key)
	if err != nil || len(key) != ed25519.PublicKeySize {
		b.broken = true
		return b
	}
	b.a = a
	return b
}

// add queues signature sig of the message prefix followed by msg.
func (b *sameKeyBatch) add(prefix string, msg, sig []byte) {
	if b.broken {
		return
	}
	if len(sig) != ed25519.SignatureSize {
		b.broken = true
		return
	}
	b.negRs = append(b.negRs, edwards25519.Point{})
	r := &b.negRs[len(b.negRs)-1]
	if _, err := r.SetBytes(sig[:32]); err != nil {
		b.broken = true
		return
	}
	r.Negate(r)
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		b.broken = true
		return
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(b.key)
	h.Write([]byte(prefix))
	h.Write(msg)
	var digest [sha512.Size]byte
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0])) // 64 bytes: cannot fail
	var zb [32]byte
	if _, err := rand.Read(zb[:16]); err != nil {
		b.broken = true
		return
	}
	b.zs = append(b.zs, edwards25519.Scalar{})
	z := &b.zs[len(b.zs)-1]
	_, _ = z.SetCanonicalBytes(zb[:]) // < 2¹²⁸: canonical, cannot fail
	b.sumS.MultiplyAdd(z, s, b.sumS)
	b.sumK.MultiplyAdd(z, k, b.sumK)
}

// verify reports whether every signature added is good (false for none).
func (b *sameKeyBatch) verify() bool {
	if b.broken || len(b.zs) == 0 {
		return false
	}
	if len(b.zs) != len(b.negRs) {
		return false
	}
	scalars := make([]*edwards25519.Scalar, 0, len(b.zs)+2)
	points := make([]*edwards25519.Point, 0, len(b.zs)+2)
	scalars = append(scalars, b.sumS, edwards25519.NewScalar().Negate(b.sumK))
	points = append(points, edwards25519.NewGeneratorPoint(), b.a)
	for i := range b.zs {
		scalars, points = append(scalars, &b.zs[i]), append(points, &b.negRs[i])
	}
	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	return check.MultByCofactor(check).Equal(edwards25519.NewIdentityPoint()) == 1
}
