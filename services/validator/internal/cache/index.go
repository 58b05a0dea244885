package cache

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

// Entry is a cached token as validation reads it: its decision view, its
// version and the issuer log index of its state, made from the index's
// slot (a value; what it points to never changes).
type Entry struct {
	check.Token
	Version  uint64
	LogIndex uint64
}

// indexShards spreads readers and the one writer over independent locks.
const indexShards = 64

// index is the in-memory copy of the cache that lookups read: bbolt is the
// durable copy, loaded into the index at open. Every applied batch reaches
// the index before its transaction commits (see ApplyIndexed). A lookup
// takes one shard's read lock and one map access; nothing is decoded or
// allocated. The maps hold slots, which the garbage collector need not
// scan.
type index struct {
	shards [indexShards]struct {
		mu sync.RWMutex
		m  map[token.Digest]uint32 // digest → number in slots
		_  [40]byte                // keeps shards on their own cache lines
	}
	// verified is the log index of the last checkpoint that matched.
	verified atomic.Uint64
	pmu      sync.RWMutex
	projects map[string]string // project id → workspace id
	// What slots name: token ids, and the scopes and network lists many
	// tokens share. Only the applier (one goroutine) adds to them.
	slots    list[slot]
	ids      arena
	scopes   table[*check.Scope]
	networks table[*[]netip.Prefix]
}

func newIndex() *index {
	x := &index{projects: map[string]string{}}
	for i := range x.shards {
		x.shards[i].m = map[token.Digest]uint32{}
	}
	return x
}

func (x *index) shard(d token.Digest) int { return int(d[0]) % indexShards }

// slot returns the slot for d.
func (x *index) slot(d token.Digest) (slot, bool) {
	s := &x.shards[x.shard(d)]
	s.mu.RLock()
	i, ok := s.m[d]
	var e slot
	if ok {
		e = *x.slots.at(i)
	}
	s.mu.RUnlock()
	return e, ok
}

// get returns the entry for d.
func (x *index) get(d token.Digest) (Entry, bool) {
	s, ok := x.slot(d)
	if !ok {
		return Entry{}, false
	}
	return x.entryOf(s), true
}

// put stores d's slot: over the one it replaces, under the shard's lock,
// or as a new one. Only the applier puts.
func (x *index) put(d token.Digest, e slot) {
	s := &x.shards[x.shard(d)]
	s.mu.Lock()
	if i, ok := s.m[d]; ok {
		*x.slots.at(i) = e
	} else {
		s.m[d] = x.slots.add(e)
	}
	s.mu.Unlock()
}

func (x *index) project(id string) (string, bool) {
	x.pmu.RLock()
	ws, ok := x.projects[id]
	x.pmu.RUnlock()
	return ws, ok
}

func (x *index) putProject(id, workspace string) {
	x.pmu.Lock()
	x.projects[id] = workspace
	x.pmu.Unlock()
}

// size returns the number of tokens held.
func (x *index) size() int {
	n := 0
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// reset empties the index, for a wiped cache.
func (x *index) reset() {
	for i := range x.shards {
		s := &x.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
	x.pmu.Lock()
	clear(x.projects)
	x.pmu.Unlock()
	// Every reader of an old slot held a shard lock cleared above, so the
	// slots can be written again. The arena and tables stay: an entry made
	// before the reset may still name them.
	x.slots.n = 0
	x.verified.Store(0)
}
