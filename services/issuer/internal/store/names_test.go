package store

import (
	"fmt"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestLiveNameIndex: the index follows renames, revocations and rotations
// (the replacement, stored first under the same name, keeps it).
func TestLiveNameIndex(t *testing.T) {
	t.Parallel()
	s := openTestStoreAt(t, time.Now)
	put := func(st *gatepassv1.TokenState) {
		t.Helper()
		if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
	}
	named := func(name string) (id string) {
		_ = s.View(func(tx *Tx) error { id = tx.LiveTokenNamed("ws", name); return nil })
		return id
	}
	tok := func(id, name string) *gatepassv1.TokenState {
		return &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, WorkspaceId: "ws", Name: name, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE}, SecretSha256: []byte(id + "-digest-padding-to-32-bytes!!")}
	}
	a := tok("tok_a", "Nightly-Sync")
	put(a)
	if named("nightly sync") != "tok_a" {
		t.Fatal("a live token is not found by its normalized name")
	}
	a.Token.Name = "ci-runner"
	put(a)
	if named("nightly sync") != "" || named("CI runner") != "tok_a" {
		t.Fatal("rename not followed")
	}
	// Rotation: the replacement takes the name, then the old is retired.
	b := tok("tok_b", "ci-runner")
	put(b)
	a.Token.ReplacedByTokenId = "tok_b"
	put(a)
	if named("ci-runner") != "tok_b" {
		t.Fatalf("after rotation the name belongs to %q", named("ci-runner"))
	}
	b.Token.Status = gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
	put(b)
	if named("ci-runner") != "" {
		t.Fatal("a revoked token still holds its name")
	}
}

// BenchmarkNameCheck: checking a new token's name costs the same with 1k
// and 100k tokens in the workspace (the first version scanned them all).
func BenchmarkNameCheck(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			s := openTestStoreAt(b, time.Now)
			fillTokens(b, s, n, func(j int) *gatepassv1.TokenState {
				id := fmt.Sprintf("tok_%08d", j)
				return &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, WorkspaceId: "ws", Name: "runner-" + id,
					Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE}, SecretSha256: []byte(fmt.Sprintf("%032d", j))}
			})
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				_ = s.View(func(tx *Tx) error {
					if tx.LiveTokenNamed("ws", fmt.Sprintf("new-runner-%d", i)) != "" {
						b.Fatal("taken")
					}
					return nil
				})
			}
		})
	}
}

// fillTokens stores tokens 0 to n-1, 2,000 a transaction, with their
// events published: the outbox does not grow with the store.
func fillTokens(b testing.TB, s *Store, n int, state func(int) *gatepassv1.TokenState) {
	b.Helper()
	for i := 0; i < n; i += 2000 {
		err := s.Update(func(tx *Tx) error {
			for j := i; j < min(i+2000, n); j++ {
				if _, err := tx.PutToken(state(j)); err != nil {
					return err
				}
			}
			if err := tx.btx.DeleteBucket(bucketOutbox); err != nil {
				return err
			}
			_, err := tx.btx.CreateBucket(bucketOutbox)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestSnapshotSetsSupersededRepublishApart: a republished state that a
// later change superseded is never published (it would replace the newer
// state on the stream, which keeps one message per token).
func TestSnapshotSetsSupersededRepublishApart(t *testing.T) {
	t.Parallel()
	s := openTestStoreAt(t, time.Now)
	st := &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: "tok_a", WorkspaceId: "ws", Name: "a-runner", Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE}, SecretSha256: make([]byte, 32)}
	if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequeueAll(); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(10)
	if err != nil || len(snap.Bulk) != 1 || len(snap.Stale) != 0 {
		t.Fatalf("before the change: bulk %d, stale %d, %v", len(snap.Bulk), len(snap.Stale), err)
	}
	st.Token.Status = gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED
	if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
		t.Fatal(err)
	}
	snap, err = s.Snapshot(10)
	if err != nil || len(snap.Bulk) != 0 || len(snap.Stale) != 1 {
		t.Fatalf("after the change: bulk %d, stale %d, %v", len(snap.Bulk), len(snap.Stale), err)
	}
}
