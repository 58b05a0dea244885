package store

import (
	"runtime"
	"sync"
)

// unsealed is an event enqueued in a transaction and not yet signed.
type unsealed struct {
	bucket  []byte
	idx     uint64
	subject string
	id      string
	payload []byte
}

// sealAll signs the events the transaction enqueued and writes them to
// the outbox. Signing is most of what an event costs, and a batch of
// changes shares one transaction: its events are signed on every CPU
// instead of one after the other in the commit.
func (tx *Tx) sealAll() error {
	evs := tx.unsealed
	tx.unsealed = nil
	if len(evs) == 0 {
		return nil
	}
	sealed := make([][]byte, len(evs))
	errs := make([]error, len(evs))
	workers := min(runtime.GOMAXPROCS(0), (len(evs)+7)/8)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(evs); i += workers {
				sealed[i], errs[i] = tx.s.sealPayload(evs[i].payload)
			}
		})
	}
	wg.Wait()
	for i, e := range evs {
		if errs[i] != nil {
			return errs[i]
		}
		// Value: subject, NUL, event id, NUL, sealed envelope.
		v := make([]byte, 0, len(e.subject)+len(e.id)+2+len(sealed[i]))
		v = append(v, e.subject...)
		v = append(v, 0)
		v = append(v, e.id...)
		v = append(v, 0)
		v = append(v, sealed[i]...)
		if err := tx.btx.Bucket(e.bucket).Put(seqKey(e.idx), v); err != nil {
			return err
		}
	}
	return nil
}
