package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestBatchIsolatesFailures: concurrent calls share commits, a failing
// call gets its own error and takes nothing else down, and every success
// is committed.
func TestBatchIsolatesFailures(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
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
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Batch(func(*Tx) error { return nil }); err == nil {
		t.Fatal("Batch after Close succeeded")
	}
}
