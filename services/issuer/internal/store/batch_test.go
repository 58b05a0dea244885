package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
)

// TestBatchIsolatesFailures: concurrent calls share commits, a failing
// call gets its own error and takes nothing else down, and every success
// is committed.
func TestBatchIsolatesFailures(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	var observed, commits atomic.Int64
	s.ObserveCommits(func(changes int, took time.Duration) {
		observed.Add(int64(changes))
		if took > 0 {
			commits.Add(1)
		}
	})
	const n = 200
	errBad := errors.New("bad call")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Batch(func(tx *Tx) error {
				if i%7 == 0 {
					return fmt.Errorf("call %d: %w", i, errBad)
				}
				return tx.btx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "batch-test-%d", i), []byte{1})
			})
		})
	}
	wg.Wait()
	err := s.View(func(tx *Tx) error {
		for i := range n {
			got := tx.btx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "batch-test-%d", i))
			switch {
			case i%7 == 0 && !errors.Is(errs[i], errBad):
				return fmt.Errorf("call %d: error %v, want its own", i, errs[i])
			case i%7 == 0 && got != nil:
				return fmt.Errorf("failed call %d committed", i)
			case i%7 != 0 && (errs[i] != nil || got == nil):
				return fmt.Errorf("call %d: error %v, committed %v", i, errs[i], got != nil)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every successful call was observed in a shared commit (failed ones
	// run alone, outside Batch's commits).
	if got, want := observed.Load(), int64(n-(n+6)/7); got != want || commits.Load() == 0 {
		t.Fatalf("observed %d changes in %d commits, want %d", got, commits.Load(), want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Batch(func(*Tx) error { return nil }); err == nil {
		t.Fatal("Batch after Close succeeded")
	}
}

// TestDeleteRidesAlong: published entries leave the snapshot at once and
// the database with the next commit, or alone after forgetDelay.
func TestDeleteRidesAlong(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	put := func(id string) {
		st := &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, WorkspaceId: "ws", Name: id, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE}, SecretSha256: make([]byte, 32)}
		if err := s.Batch(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() int {
		n := 0
		_ = s.View(func(tx *Tx) error { n = tx.btx.Bucket(bucketOutbox).Stats().KeyN; return nil })
		return n
	}
	put("tok_a")
	snap, err := s.Snapshot(10)
	if err != nil || len(snap.Change) != 1 {
		t.Fatalf("snapshot: %d entries, %v", len(snap.Change), err)
	}
	if err := s.Delete(propagation.LaneChange, [][]byte{snap.Change[0].Key}); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.Snapshot(10); len(snap.Change) != 0 {
		t.Fatalf("a published entry is still in the snapshot")
	}
	put("tok_b") // commits the deletion with it
	if snap, _ := s.Snapshot(10); len(snap.Change) != 1 || snap.Change[0].Key == nil || stored() != 1 {
		t.Fatalf("after the next commit: %d in snapshot, %d stored", len(snap.Change), stored())
	}
	snap, _ = s.Snapshot(10)
	_ = s.Delete(propagation.LaneChange, [][]byte{snap.Change[0].Key})
	for deadline := time.Now().Add(5 * time.Second); stored() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a deletion with no change to ride along was never committed")
		}
	}
}

// TestDeletionsCommitUnderSteadyPublishing: deletions that keep coming,
// faster than forgetDelay and with no change to ride along, are still
// committed (the wait starts at the first of them, not the last).
func TestDeletionsCommitUnderSteadyPublishing(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	var keys [][]byte
	for i := range 40 {
		id := fmt.Sprintf("tok_%02d", i)
		st := &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: id, WorkspaceId: "ws", Name: id, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE}, SecretSha256: make([]byte, 32)}
		if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := s.Snapshot(100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range snap.Change {
		keys = append(keys, e.Key)
	}
	committed := false
	for _, k := range keys { // one deletion every 2 ms: never 20 ms of quiet
		_ = s.Delete(propagation.LaneChange, [][]byte{k})
		time.Sleep(2 * time.Millisecond)
		_ = s.View(func(tx *Tx) error {
			committed = committed || tx.btx.Bucket(bucketOutbox).Stats().KeyN < len(keys)
			return nil
		})
	}
	if !committed {
		t.Fatal("no deletion committed while deletions kept coming")
	}
}
