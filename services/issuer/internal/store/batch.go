package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// maxBatch bounds the calls committed together.
	maxBatch = 256
	// gatherFrom and gatherWindow: after a commit of gatherFrom calls or
	// more, the next one gathers calls for gatherWindow before it starts,
	// unless its first call came after quietAfter without commits (see
	// Batch).
	gatherFrom   = 4
	gatherWindow = time.Millisecond
	quietAfter   = 100 * time.Millisecond
)

// call is one Batch call waiting for its commit.
type call struct {
	fn   func(*Tx) error
	done chan error
}

// Batch runs fn in a read-write transaction that it may share with other
// concurrent Batch calls: one commit (and its fsyncs) for all of them, so
// the write rate does not stop at one commit per change. A call arriving
// while the store is idle commits at once; calls arriving during a commit
// form the next batch. Under load (the last commit held gatherFrom calls
// or more) a commit also gathers calls for gatherWindow before it starts,
// as PostgreSQL's commit_delay does past commit_siblings: clients answered
// together come back together, a little spread out, and one commit for
// all of them costs less than three for a few each, and makes a larger
// batch on the token stream. Creates at c=64, five interleaved runs of
// each: 1,553/s on average without it, 1,702/s waiting only until a
// commit held as many calls as the last, 1,802/s with the whole window.
// A change made while the store is quiet (no commit for quietAfter; a
// lone revoke) never waits.
//
// As with bbolt's own Batch, fn may run more than once, so its effects
// outside the transaction must be idempotent (assigning results to
// variables is): when fn fails, the transaction is rolled back, fn runs
// again alone and its error is returned to its caller, and the others run
// again together.
func (s *Store) Batch(fn func(*Tx) error) error {
	c := &call{fn: fn, done: make(chan error, 1)}
	s.closing.RLock()
	if s.closed {
		s.closing.RUnlock()
		return berrors.ErrDatabaseNotOpen
	}
	s.batches <- c
	s.closing.RUnlock()
	return <-c.done
}

// commitLoop runs batches until the store closes; published outbox
// entries are deleted with them, or alone once forgetDelay passed without
// a batch.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	armed := false // idle fires forgetDelay after the first deletion waiting
	last := 0      // calls in the last commit that had any
	var ended time.Time
	for {
		var first *call
		select {
		case c, ok := <-s.batches:
			if !ok {
				s.commit(nil) // what was published, before closing
				return
			}
			first = c
		case <-s.forget.kick:
			if !armed {
				idle.Reset(forgetDelay)
				armed = true
			}
			continue
		case <-idle.C:
			armed = false
			s.commit(nil)
			continue
		}
		if time.Since(ended) > s.quiet {
			last = 0 // the load, if any, has passed
		}
		calls := s.gather(first, last)
		last = len(calls)
		s.commit(calls)
		ended = time.Now()
	}
}

// gather returns first with the calls queued behind it, up to maxBatch.
// After a commit of last calls, gatherFrom or more, it also takes the
// calls arriving within s.window.
func (s *Store) gather(first *call, last int) []*call {
	calls := []*call{first}
	var window <-chan time.Time
	if last >= gatherFrom && s.window > 0 {
		t := time.NewTimer(s.window)
		defer t.Stop()
		window = t.C
	}
	for len(calls) < maxBatch {
		var c *call
		ok := true
		if window == nil {
			select {
			case c, ok = <-s.batches:
			default:
				return calls
			}
		} else {
			select {
			case c, ok = <-s.batches:
			case <-window:
				window = nil // take what is queued, then commit
				continue
			}
		}
		if !ok {
			return calls
		}
		calls = append(calls, c)
	}
	return calls
}

// commit runs calls in one transaction, with the deletion of published
// outbox entries; a call that fails is taken out and run alone, and the
// rest are tried again. With no calls it only deletes.
func (s *Store) commit(calls []*call) {
	for {
		failed := -1
		forgotten := s.forget.pending()
		if len(calls) == 0 && len(forgotten) == 0 {
			return
		}
		start := time.Now()
		var tx *Tx
		err := s.db.Update(func(btx *bolt.Tx) error {
			tx = &Tx{btx: btx, s: s}
			if err := tx.deleteForgotten(forgotten); err != nil {
				return err
			}
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return tx.sealAll()
		})
		if failed < 0 {
			if err == nil {
				s.forget.done(forgotten)
				tx.committed()
			}
			if fn := s.observe.Load(); fn != nil && len(calls) > 0 {
				(*fn)(len(calls), time.Since(start))
			}
			for _, c := range calls {
				c.done <- err // nil, or the commit's own error for all
			}
			return
		}
		c := calls[failed]
		c.done <- s.Update(c.fn)
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}
