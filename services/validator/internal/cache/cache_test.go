package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
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
		got, err := c.Lookup(d)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != s.want {
			t.Errorf("%s: status = %v, want %v", s.name, got.Status, s.want)
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
	if _, err := c.Lookup(d); err != nil {
		t.Fatalf("token lost across reopen: %v", err)
	}
	var other token.Digest
	other[0] = 2
	if _, err := c.Lookup(other); !errors.Is(err, ErrNotFound) {
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
		got, err := c.Lookup(d)
		if err != nil || got.Status != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			t.Fatalf("revoked token changed: %v %v", got, err)
		}
	})
}

// TestIndexFollowsBbolt checks that lookups (served from memory) agree
// with the durable copy: after reopening, after a transaction that failed,
// and after a wipe.
func TestIndexFollowsBbolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var d1, d2 token.Digest
	d1[0], d2[0] = 1, 2
	active := gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE
	p := &gatepassv1.ProjectState{Project: &gatepassv1.Project{Id: "prj_1", WorkspaceId: "ws_1"}}
	if _, err := c.Apply([]Item{{Sequence: 1, Token: state(d1, 1, active)}, {Sequence: 2, Project: p}}); err != nil {
		t.Fatal(err)
	}
	// A batch whose transaction fails changes nothing in memory either.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply([]Item{{Sequence: 3, Token: state(d2, 1, active)}}); err == nil {
		t.Fatal("apply on a closed cache succeeded")
	}
	if _, _, err := c.Entry(d2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed apply reached the index: %v", err)
	}
	c = openCache(t, path)
	if e, err := c.Lookup(d1); err != nil || e.ID != "tok_1" || e.Version != 1 {
		t.Fatalf("after reopen: %+v, %v", e, err)
	}
	if ws, ok := c.ProjectWorkspace("prj_1"); !ok || ws != "ws_1" {
		t.Fatalf("project after reopen: %q %v", ws, ok)
	}
	if err := c.Wipe(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(d1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after wipe: %v", err)
	}
	if _, ok := c.ProjectWorkspace("prj_1"); ok || c.Tokens() != 0 {
		t.Fatal("wipe left projects or tokens in memory")
	}
}

// TestMisplacedStateIsCorrupt: a state stored under another id than its
// own makes the cache unusable at open, so it is rebuilt.
func TestMisplacedStateIsCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var d1 token.Digest
	d1[0] = 1
	if _, err := c.Apply([]Item{{Sequence: 1, Token: state(d1, 1, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED)}}); err != nil {
		t.Fatal(err)
	}
	err = c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		return b.Put([]byte("tok_other"), b.Get([]byte("tok_1")))
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// TestIndexedRunsBeforeCommit: the hook sees the batch in the index while
// the transaction is still open (bbolt does not hold it yet).
func TestIndexedRunsBeforeCommit(t *testing.T) {
	t.Parallel()
	c := openCache(t, filepath.Join(t.TempDir(), "c.db"))
	var d token.Digest
	d[0] = 7
	ran := false
	_, err := c.ApplyIndexed([]Item{{Sequence: 5, Token: state(d, 1, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED)}}, func(res Result) {
		ran = true
		if e, err := c.Lookup(d); err != nil || e.Status != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED || res.Applied != 1 {
			t.Errorf("inside the hook: %+v, %v, %+v", e, err, res)
		}
		// A read transaction cannot see the open write transaction.
		_ = c.db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketTokens).Get([]byte("tok_1")) != nil {
				t.Error("committed before the hook ran")
			}
			return nil
		})
	})
	if err != nil || !ran {
		t.Fatalf("ApplyIndexed: %v (hook ran: %v)", err, ran)
	}
	if p := c.mustPosition(t); p.Sequence != 0 || c.Staged() != 1 {
		t.Fatalf("before Flush: position %+v, %d staged", p, c.Staged())
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if p := c.mustPosition(t); p.Sequence != 5 || c.Staged() != 0 {
		t.Fatalf("after Flush: position %+v, %d staged", p, c.Staged())
	}
}

// TestCloseLosesWhatWasNotFlushed: closing without Flush is a crash for
// the batches staged since the last commit; the cache reopens at the
// last commit, whole.
func TestCloseLosesWhatWasNotFlushed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var d1, d2 token.Digest
	d1[0], d2[0] = 1, 2
	if _, err := c.Apply([]Item{{Sequence: 1, Token: state(d1, 1, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED)}}); err != nil {
		t.Fatal(err)
	}
	late := state(d2, 1, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED)
	late.Token.Id = "tok_2"
	if _, err := c.ApplyIndexed([]Item{{Sequence: 2, Token: late}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(d2); err != nil {
		t.Fatalf("staged state not in the index: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, path)
	if p := c.mustPosition(t); p.Sequence != 1 {
		t.Fatalf("reopened at %+v, want sequence 1", p)
	}
	if _, err := c.Lookup(d1); err != nil {
		t.Fatalf("committed state lost: %v", err)
	}
	if _, err := c.Lookup(d2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unflushed state survived: %v", err)
	}
}

// TestTokenBucketFillsItsPages: a replay appends (ids grow with time), and
// the token bucket's pages are left nearly full; with bbolt's default
// split they stayed half empty and the file twice the size it needs.
// fillTokens applies n tokens to c, 4,096 per committed batch.
func fillTokens(t *testing.T, c *Cache, n int) {
	t.Helper()
	for lo := 0; lo < n; lo += 4096 {
		var items []Item
		for i := lo; i < min(lo+4096, n); i++ {
			var d token.Digest
			d[0], d[1], d[2] = byte(i), byte(i>>8), byte(i>>16)
			st := state(d, 1, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE)
			st.Token.Id = fmt.Sprintf("tok_%08d", i)
			st.Token.WorkspaceId, st.Token.Role = "ws_1", gatepassv1.Role_ROLE_TESTER
			items = append(items, Item{Sequence: uint64(i + 1), LogIndex: uint64(i + 1), Token: st})
		}
		if _, err := c.ApplyIndexed(items, func(Result) {}); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenBucketFillsItsPages(t *testing.T) {
	t.Parallel()
	c := openCache(t, filepath.Join(t.TempDir(), "v.db"))
	const n = 20000
	fillTokens(t, c, n)
	if err := c.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketTokens).Stats()
		fill := float64(st.LeafInuse) / float64(st.LeafAlloc)
		t.Logf("%d tokens: %d leaf pages, %.0f%% full, file %d KiB", n, st.LeafPageN, 100*fill, tx.Size()>>10)
		if fill < 0.8 {
			t.Errorf("token pages %.0f%% full, want 80%% or more", 100*fill)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An opened cache has read every page (its check and the index), but keeps
// none of them mapped: lookups read the index, and a validator restarted
// at 1M tokens showed its whole cache file (480 MiB) in its resident
// memory besides the index.
func TestOpenLeavesTheFileUnmapped(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v.db")
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fillTokens(t, c, 20000)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, path)
	if got := c.x.size(); got != 20000 {
		t.Fatalf("index holds %d tokens after reopening, want 20000", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	rss, ok := residentKiB(t, path)
	if !ok {
		t.Skip("no /proc/self/smaps mapping for the cache here")
	}
	t.Logf("file %d KiB, %d KiB of it resident", fi.Size()>>10, rss)
	if rss > fi.Size()>>10/8 {
		t.Errorf("%d KiB of a %d KiB cache resident after opening, want at most an eighth", rss, fi.Size()>>10)
	}
}

// residentKiB returns how much of the file at path the process has
// resident through its memory maps (Linux /proc/self/smaps).
func residentKiB(t *testing.T, path string) (int64, bool) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, false
	}
	var total int64
	found, in := false, false
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") { // a mapping's header
			in = fields[len(fields)-1] == path
			found = found || in
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kib
		}
	}
	return total, found
}
