package cache

import (
	"sync"
	"sync/atomic"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

// Entry is a cached token as validation reads it: its decision view, its
// version and the issuer log index of its state. Entries are immutable; a
// newer state replaces the pointer.
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
// allocated.
type index struct {
	shards [indexShards]struct {
		mu sync.RWMutex
		m  map[token.Digest]*Entry
		_  [40]byte // keeps shards on their own cache lines
	}
	// verified is the log index of the last checkpoint that matched.
	verified atomic.Uint64
	pmu      sync.RWMutex
	projects map[string]string // project id → workspace id
	// scopes interns what many tokens share; only the applier (one
	// goroutine) touches it.
	scopes map[check.Scope]*check.Scope
}

func newIndex() *index {
	x := &index{projects: map[string]string{}, scopes: map[check.Scope]*check.Scope{}}
	for i := range x.shards {
		x.shards[i].m = map[token.Digest]*Entry{}
	}
	return x
}

func (x *index) shard(d token.Digest) int { return int(d[0]) % indexShards }

// get returns the entry for d, or nil.
func (x *index) get(d token.Digest) *Entry {
	s := &x.shards[x.shard(d)]
	s.mu.RLock()
	e := s.m[d]
	s.mu.RUnlock()
	return e
}

func (x *index) put(d token.Digest, e *Entry) {
	s := &x.shards[x.shard(d)]
	s.mu.Lock()
	s.m[d] = e
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

// entry decodes a state into an entry, sharing the ids many tokens repeat.
func (x *index) entry(st *gatepassv1.TokenState, logIndex uint64) *Entry {
	t := st.GetToken()
	sc := check.ScopeOf(t)
	shared, ok := x.scopes[sc]
	if !ok {
		shared = &sc
		x.scopes[sc] = shared
	}
	return &Entry{Token: check.NewToken(t, shared), Version: t.GetVersion(), LogIndex: logIndex}
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
	clear(x.scopes)
	x.verified.Store(0)
}
