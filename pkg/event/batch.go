package event

import (
	"crypto/ed25519"
	"maps"
	"runtime"
	"slices"
	"sync"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

// minParallel is the batch size from which OpenAll spreads the work over
// the CPUs.
const minParallel = 64

// OpenAll is Open for many messages at once, as a validator reads them
// when it catches up: the signatures are checked together (sameKeyBatch,
// several times faster than one by one) on every CPU. A batch that fails
// is checked one by one, so each message gets the error Open would give
// it.
//
// The batch equation is cofactored and accepts non-canonical point
// encodings, where Open does neither; both refuse any signature not made
// with the key, so that changes nothing an attacker can forge.
func (v *Verifier) OpenAll(datas [][]byte) ([]*gatepassv1.Event, []error) {
	evs := make([]*gatepassv1.Event, len(datas))
	errs := make([]error, len(datas))
	if len(datas) < minParallel {
		v.openChunk(datas, evs, errs)
		return evs, errs
	}
	n := runtime.GOMAXPROCS(0)
	size := (len(datas) + n - 1) / n
	var wg sync.WaitGroup
	for lo := 0; lo < len(datas); lo += size {
		hi := min(lo+size, len(datas))
		wg.Go(func() { v.openChunk(datas[lo:hi], evs[lo:hi], errs[lo:hi]) })
	}
	wg.Wait()
	return evs, errs
}

// openChunk opens datas into evs and errs (of the same length).
func (v *Verifier) openChunk(datas [][]byte, evs []*gatepassv1.Event, errs []error) {
	envs := make([]*gatepassv1.Envelope, len(datas))
	vals := make([]gatepassv1.Envelope, len(datas)) // one allocation for all
	type signature struct {
		prefix   string
		msg, sig []byte
	}
	var sigs []signature
	roots := map[string]struct{}{} // batch signatures this chunk checks
	for i, d := range datas {
		env := &vals[i]
		if err := proto.Unmarshal(d, env); err != nil {
			errs[i] = malformed(err)
			continue
		}
		sig := env.GetSignature()
		prefix, msg, err := signed(env)
		if len(sig) != ed25519.SignatureSize || err != nil {
			errs[i] = v.checkSignature(env) // unsigned, or of no use
			continue
		}
		envs[i] = env
		if env.GetBatch() != nil {
			// Events of one batch share a signature: check it once.
			key := rootKey(msg, sig)
			if _, ok := roots[key]; ok || v.roots.has(key) {
				continue
			}
			roots[key] = struct{}{}
		}
		sigs = append(sigs, signature{prefix, msg, sig})
	}
	// A lone signature is checked faster by itself than by the batch
	// equation.
	batchOK := len(sigs) == 0
	if len(sigs) == 1 {
		batchOK = v.verifies(sigs[0].prefix, sigs[0].msg, sigs[0].sig)
	}
	if len(sigs) > 1 {
		bv := newSameKeyBatch(v.key, len(sigs))
		for _, s := range sigs {
			bv.add(s.prefix, s.msg, s.sig)
		}
		batchOK = bv.verify()
	}
	if batchOK {
		v.roots.add(slices.Collect(maps.Keys(roots))...)
	}
	for i, env := range envs {
		if env == nil {
			continue
		}
		if !batchOK {
			if errs[i] = v.checkSignature(env); errs[i] != nil {
				continue
			}
		}
		evs[i], errs[i] = decodePayload(env.GetPayload())
	}
}
