package store

import (
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/propagation"
)

// forgetDelay is how long published outbox entries may wait for a change
// to commit with before they get a commit of their own.
const forgetDelay = 20 * time.Millisecond

// forgetting holds outbox entries published and not yet deleted. Their
// deletion rides along with the next group commit instead of costing one
// (and its syncs) of its own, which the next change would wait behind;
// Snapshot skips them meanwhile. A crash before the deletion commits
// republishes them, which is harmless (see package propagation).
type forgetting struct {
	mu   sync.Mutex
	keys map[propagation.Lane]map[string]struct{}
	kick chan struct{}
}

func newForgetting() *forgetting {
	return &forgetting{keys: map[propagation.Lane]map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

// add marks keys of a lane for deletion.
func (f *forgetting) add(lane propagation.Lane, keys [][]byte) {
	f.mu.Lock()
	m := f.keys[lane]
	if m == nil {
		m = map[string]struct{}{}
		f.keys[lane] = m
	}
	for _, k := range keys {
		m[string(k)] = struct{}{}
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// has reports whether a key of a lane awaits deletion.
func (f *forgetting) has(lane propagation.Lane, key []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.keys[lane][string(key)]
	return ok
}

// pending returns a copy of the keys awaiting deletion.
func (f *forgetting) pending() map[propagation.Lane][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[propagation.Lane][]string{}
	for lane, m := range f.keys {
		for k := range m {
			out[lane] = append(out[lane], k)
		}
	}
	return out
}

// done forgets keys whose deletion committed.
func (f *forgetting) done(deleted map[propagation.Lane][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for lane, keys := range deleted {
		for _, k := range keys {
			delete(f.keys[lane], k)
		}
	}
}

// deleteForgotten deletes keys in tx.
func (tx *Tx) deleteForgotten(keys map[propagation.Lane][]string) error {
	for lane, ks := range keys {
		b := tx.btx.Bucket(laneBucket[lane])
		for _, k := range ks {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	return nil
}
