package cache

import (
	"errors"
	"path/filepath"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/protobuf/proto"
)

func openCache(t testing.TB, path string) *Cache {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func state(d token.Digest, version uint64, s gatepassv1.TokenStatus) *gatepassv1.TokenState {
	return &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: "tok_1", Version: version, Status: s},
		SecretSha256: d[:],
	}
}

func TestApplyKeepsNewestAndRevokedIsTerminal(t *testing.T) {
	t.Parallel()
	c := openCache(t, filepath.Join(t.TempDir(), "c.db"))
	var d token.Digest
	d[0] = 1
	active, disabled, revoked := gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
	steps := []struct {
		name  string
		item  *gatepassv1.TokenState
		want  gatepassv1.TokenStatus
		apply bool
	}{
		{"create", state(d, 1, active), active, true},
		{"disable", state(d, 2, disabled), disabled, true},
		{"replay of create", state(d, 1, active), disabled, false},
		{"duplicate", state(d, 2, disabled), disabled, false},
		{"revoke", state(d, 4, revoked), revoked, true},
		{"late enable", state(d, 3, active), revoked, false},
		{"forged newer active", state(d, 9, active), revoked, false},
	}
	for i, s := range steps {
		res, err := c.Apply([]Item{{Sequence: uint64(i + 1), Token: s.item}})
		if err != nil {
			t.Fatal(err)
		}
		if (res.Applied == 1) != s.apply {
			t.Errorf("%s: applied = %v, want %v", s.name, res.Applied == 1, s.apply)
		}
		got, err := c.Token(d)
		if err != nil {
			t.Fatal(err)
		}
		if got.GetToken().GetStatus() != s.want {
			t.Errorf("%s: status = %v, want %v", s.name, got.GetToken().GetStatus(), s.want)
		}
	}
}

func TestPositionSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var d token.Digest
	if _, err := c.Apply([]Item{{Sequence: 7, Token: state(d, 1, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE)}, {Sequence: 8}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = openCache(t, path)
	pos, err := c.Position()
	if err != nil || pos.Sequence != 8 {
		t.Fatalf("Position = %v, %v; want sequence 8", pos, err)
	}
	if _, err := c.Token(d); err != nil {
		t.Fatalf("token lost across reopen: %v", err)
	}
	var other token.Digest
	other[0] = 2
	if _, err := c.Token(other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown digest: %v", err)
	}
}

// FuzzApply feeds arbitrary bytes, decoded as token states, to the cache:
// it must never fail or panic on them, and a revoked token must stay
// revoked whatever follows.
func FuzzApply(f *testing.F) {
	var d token.Digest
	d[0] = 7
	seed, _ := proto.Marshal(state(d, 2, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE))
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	c := openCache(f, filepath.Join(f.TempDir(), "c.db"))
	if _, err := c.Apply([]Item{{Sequence: 1, Token: state(d, 5, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED)}}); err != nil {
		f.Fatal(err)
	}
	var seq uint64 = 1
	f.Fuzz(func(t *testing.T, data []byte) {
		var st gatepassv1.TokenState
		if proto.Unmarshal(data, &st) != nil {
			return
		}
		seq++
		if _, err := c.Apply([]Item{{Sequence: seq, Token: &st}}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		got, err := c.Token(d)
		if err != nil || got.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			t.Fatalf("revoked token changed: %v %v", got, err)
		}
	})
}
