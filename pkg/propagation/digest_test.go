package propagation

import (
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

func st(id string, v uint64, s gatepassv1.TokenStatus) *gatepassv1.TokenState {
	return &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, Version: v, Status: s}}
}

// TestDigestIsOrderFreeAndReversible: the digest depends only on the set of
// states, so the issuer (in commit order) and a validator (in stream order,
// after replays) agree; replacing a state undoes its old entry exactly.
func TestDigestIsOrderFreeAndReversible(t *testing.T) {
	t.Parallel()
	active, revoked := gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
	var a, b Digest
	a.Replace(nil, st("t1", 1, active))
	a.Replace(nil, st("t2", 1, active))
	a.Replace(st("t1", 1, active), st("t1", 2, revoked))

	b.Replace(nil, st("t2", 1, active))
	b.Replace(nil, st("t1", 2, revoked))
	if a != b {
		t.Fatal("the same states in another order give another digest")
	}
	b.Replace(st("t1", 2, revoked), st("t1", 1, active))
	if a == b {
		t.Fatal("an old state replayed over a revocation left the digest unchanged")
	}
	var zero Digest
	a.Replace(st("t1", 2, revoked), nil)
	a.Replace(st("t2", 1, active), nil)
	if a != zero {
		t.Fatalf("removing every state left %x", a)
	}
	if _, err := ParseDigest([]byte{1, 2}); err == nil {
		t.Fatal("a short digest parsed")
	}
}
