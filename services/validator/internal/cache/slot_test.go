package cache

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
)

func digestOf(i int) token.Digest {
	var d token.Digest
	binary.BigEndian.PutUint64(d[:], uint64(i)*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(d[8:], uint64(i))
	return d
}

func fullState(i int, version uint64) *gatepassv1.TokenState {
	d := digestOf(i)
	st := &gatepassv1.TokenState{SecretSha256: d[:], Token: &gatepassv1.Token{
		Id: fmt.Sprintf("tok_%022d", i), Version: version, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
		WorkspaceId: "ws_1", ProjectId: fmt.Sprintf("prj_%d", i%3), OwnerId: "mem_1", Role: gatepassv1.Role_ROLE_TESTER,
		NeverExpires: true,
	}}
	if i%5 == 0 {
		st.Token.AllowedCidrs = []string{fmt.Sprintf("10.0.%d.0/24", i%7)}
	}
	return st
}

// TestLookupsDuringApply: readers looking tokens up while the applier
// adds tokens (past the end of an id chunk) and new versions always see a
// whole entry: its own id, scope and networks, at a version that only
// grows. Run with -race, it also checks the index's lock-free tables.
func TestLookupsDuringApply(t *testing.T) {
	t.Parallel()
	c := openCache(t, filepath.Join(t.TempDir(), "c.db"))
	n := chunkBytes/26 + 2_000 // more ids than one arena chunk holds
	if testing.Short() {
		n = 5_000
	}
	var applied atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 2)
	for r := range 2 {
		wg.Go(func() {
			seen := map[int]uint64{}
			for k := r; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := k % max(1, int(applied.Load()))
				e, _, err := c.Entry(digestOf(i))
				if err != nil {
					continue // not applied yet
				}
				want := fullState(i, e.Version).GetToken()
				nets := 0
				if e.Networks != nil {
					nets = len(*e.Networks)
				}
				if e.ID != want.GetId() || e.ProjectID != want.GetProjectId() || e.WorkspaceID != "ws_1" ||
					nets != len(want.GetAllowedCidrs()) || e.Version < seen[i] {
					errs <- fmt.Errorf("token %d read as %+v (networks %d) after version %d", i, e, nets, seen[i])
					return
				}
				seen[i] = e.Version
				if k%1024 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	const batch = 1_000
	for from := 0; from < n; from += batch {
		items := make([]Item, 0, 2*batch)
		for i := from; i < min(n, from+batch); i++ {
			items = append(items, Item{Sequence: uint64(2*i + 1), Token: fullState(i, 1)})
		}
		for i := from / 2; i < min(n, from+batch)/2; i++ { // new versions of older tokens
			items = append(items, Item{Sequence: uint64(2*i + 2), Token: fullState(i, 2)})
		}
		if _, err := c.Apply(items); err != nil {
			t.Fatal(err)
		}
		applied.Store(int64(min(n, from+batch)))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if got := c.Tokens(); got != n {
		t.Fatalf("%d tokens indexed, want %d", got, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		e, _, err := c.Entry(digestOf(i))
		if err != nil || e.ID != fullState(i, 1).GetToken().GetId() {
			t.Fatalf("token %d: %+v, %v", i, e, err)
		}
	}
}

// BenchmarkCollectWithTokens measures a garbage collection with n tokens
// cached: the index holds no pointers, so it is not scanned.
func BenchmarkCollectWithTokens(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		c := openCache(b, filepath.Join(b.TempDir(), "c.db"))
		const batch = 20_000
		for from := 0; from < n; from += batch {
			items := make([]Item, 0, batch)
			for i := from; i < min(n, from+batch); i++ {
				items = append(items, Item{Sequence: uint64(i + 1), Token: fullState(i, 1)})
			}
			if _, err := c.Apply(items); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
			}
		})
		runtime.KeepAlive(c)
	}
}
