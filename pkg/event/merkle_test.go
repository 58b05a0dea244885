package event

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/proto"
)

// mth is RFC 9162's Merkle Tree Hash written from its definition, to hold
// buildTree to it.
func mth(leaves [][]byte) [32]byte {
	if len(leaves) == 1 {
		return leafHash(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func payloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = proto.Marshal(&gatepassv1.Event{Id: fmt.Sprintf("ev_%d", i),
			Body: &gatepassv1.Event_Checkpoint{Checkpoint: &gatepassv1.Checkpoint{LogIndex: uint64(i)}}})
	}
	return out
}

// TestBatchTreeIsRFC9162: the root is the RFC's Merkle Tree Hash, and
// every leaf's path leads to it, for every size up to three batches.
func TestBatchTreeIsRFC9162(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 3*BatchLimit; n++ {
		ps := payloads(n)
		leaves := make([][32]byte, n)
		for i, p := range ps {
			leaves[i] = leafHash(p)
		}
		paths := make([][][]byte, n)
		root := buildTree(leaves, paths)
		if root != mth(ps) {
			t.Fatalf("n=%d: root differs from the Merkle Tree Hash", n)
		}
		for i := range n {
			got, err := rootOf(leaves[i], uint64(i), uint64(n), paths[i])
			if err != nil || got != root {
				t.Fatalf("n=%d leaf %d: path leads to %x (%v), want the root", n, i, got, err)
			}
			if n > 1 {
				if _, err := rootOf(leaves[i], uint64(i), uint64(n), paths[i][:len(paths[i])-1]); err == nil {
					t.Fatalf("n=%d leaf %d: a shortened path was accepted", n, i)
				}
			}
		}
	}
}

// TestSealBatchOpens: every event of a batch opens alone and with the
// others, on a verifier that has seen none of them, across batch limits.
func TestSealBatchOpens(t *testing.T) {
	t.Parallel()
	s := newSigner(t)
	for _, n := range []int{1, 2, 3, BatchLimit, BatchLimit + 1, 3*BatchLimit + 5} {
		ps := payloads(n)
		sealed, err := s.SealBatch(ps)
		if err != nil || len(sealed) != n {
			t.Fatalf("n=%d: %d sealed, %v", n, len(sealed), err)
		}
		for i, d := range sealed {
			v, _ := NewVerifier(s.PublicKey())
			ev, err := v.Open(d)
			if err != nil || ev.GetId() != fmt.Sprintf("ev_%d", i) {
				t.Fatalf("n=%d item %d: %v, %v", n, i, ev.GetId(), err)
			}
		}
		v, _ := NewVerifier(s.PublicKey())
		evs, errs := v.OpenAll(sealed)
		for i := range sealed {
			if errs[i] != nil || evs[i].GetId() != fmt.Sprintf("ev_%d", i) {
				t.Fatalf("n=%d OpenAll item %d: %v", n, i, errs[i])
			}
		}
	}
}

// TestBatchForgeries: whatever part of a batched envelope is changed, it
// no longer opens, also on a verifier that already checked the genuine
// batch (its signature is remembered, and must not vouch for anything
// else), alone or among genuine ones.
func TestBatchForgeries(t *testing.T) {
	t.Parallel()
	s, other := newSigner(t), newSigner(t)
	ps := payloads(5)
	sealed, _ := s.SealBatch(ps)
	foreign, _ := other.SealBatch(ps)
	env := func(i int) *gatepassv1.Envelope {
		var e gatepassv1.Envelope
		if err := proto.Unmarshal(sealed[i], &e); err != nil {
			t.Fatal(err)
		}
		return &e
	}
	forged := map[string]*gatepassv1.Envelope{}
	e := env(2)
	e.Payload = ps[3]
	forged["another event's payload"] = e
	e = env(2)
	e.Batch.Index = 3
	forged["another index"] = e
	e = env(4)
	e.Batch.Size = 6
	forged["another size"] = e
	e = env(0)
	e.Batch.Path[1] = bytes.Repeat([]byte{7}, 32)
	forged["a changed path"] = e
	e = env(0)
	e.Batch.Path = append(e.Batch.Path, make([]byte, 32))
	forged["a longer path"] = e
	e = env(0)
	e.Batch.Path = e.Batch.Path[:1]
	forged["a shorter path"] = e
	e = env(1)
	e.Batch.Path[0] = e.Batch.Path[0][:31]
	forged["a short hash"] = e
	e = env(1)
	e.Batch = nil
	forged["the batch signature as a plain one"] = e
	var f gatepassv1.Envelope
	_ = proto.Unmarshal(foreign[1], &f)
	forged["another key's batch"] = &f
	e = env(1)
	e.Signature = f.Signature
	forged["another key's signature"] = e

	warm, _ := NewVerifier(s.PublicKey())
	if _, errs := warm.OpenAll(sealed); errs[0] != nil {
		t.Fatal(errs[0])
	}
	for name, e := range forged {
		data, _ := proto.Marshal(e)
		cold, _ := NewVerifier(s.PublicKey())
		for vname, v := range map[string]*Verifier{"cold": cold, "warm": warm} {
			if _, err := v.Open(data); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s, %s verifier: Open gave %v, want a bad signature", name, vname, err)
			}
			evs, errs := v.OpenAll([][]byte{sealed[0], data, sealed[4]})
			if !errors.Is(errs[1], ErrBadSignature) || evs[1] != nil {
				t.Errorf("%s, %s verifier: OpenAll gave %v", name, vname, errs[1])
			}
			if errs[0] != nil || errs[2] != nil {
				t.Errorf("%s, %s verifier: the genuine events beside it failed: %v, %v", name, vname, errs[0], errs[2])
			}
			if evs, errs := v.OpenAll([][]byte{data}); !errors.Is(errs[0], ErrBadSignature) || evs[0] != nil {
				t.Errorf("%s, %s verifier: OpenAll of it alone gave %v", name, vname, errs[0])
			}
		}
	}
}

// BenchmarkOpenAll: what a validator pays to check events as they arrive
// (one revoke; one commit's batch of 16) and as a cold start reads them
// (4,096 events of 256 batches).
func BenchmarkOpenAll(b *testing.B) {
	s := newSigner(b)
	for _, tc := range []struct {
		name   string
		n      int
		single bool
	}{{"one", 1, false}, {"batch16", 16, false}, {"replay4096", 4096, false}, {"replay4096-signed-each", 4096, true}} {
		ps := payloads(tc.n)
		var sealed [][]byte
		if tc.single {
			for _, p := range ps {
				var ev gatepassv1.Event
				_ = proto.Unmarshal(p, &ev)
				d, _ := s.Seal(&ev)
				sealed = append(sealed, d)
			}
		} else {
			sealed, _ = s.SealBatch(ps)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := NewVerifier(s.PublicKey()) // nothing remembered
				if _, errs := v.OpenAll(sealed); errs[0] != nil {
					b.Fatal(errs[0])
				}
			}
		})
	}
}
