package cache

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"unsafe"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

// slot is an entry as the index holds it: no pointers, so the garbage
// collector never scans the index. With a pointer per token (and one per
// id string) a collection at a million tokens marked two million objects,
// 170 ms a cycle here, and replaying the stream at a cold start ran dozens
// of them. Ids live in an append-only byte arena, scopes and network lists
// in interned tables; a slot names them by number. Slots sit in a dense
// list, the shards' maps hold their numbers.
type slot struct {
	expire            int64
	version, logIndex uint64
	id                ref
	scope, networks   uint32 // networks 0: none (the token allows every network)
	created           uint32 // Unix seconds
	status, role      uint8
	neverExpires      bool
}

// ref locates bytes in the arena: chunk, offset and length in one word.
type ref uint64

func mkref(chunk, off, n uint32) ref { return ref(uint64(chunk)<<40 | uint64(off)<<20 | uint64(n)) }
func (r ref) chunk() uint32          { return uint32(r >> 40) }
func (r ref) off() uint32            { return uint32(r>>20) & (chunkBytes - 1) }
func (r ref) len() uint32            { return uint32(r) & (chunkBytes - 1) }

const (
	chunkBytes = 1 << 20 // an arena chunk
	tableChunk = 1 << 12 // elements per list chunk
	maxChunks  = 1 << 16 // 64 GiB of ids, 256M elements per list
)

// arena holds the bytes of strings that live as long as the index. Only
// the applier adds; readers make strings of what a slot they read names,
// written before the slot was published under a shard lock. Chunks never
// move or change, so a string made of one stays valid.
type arena struct {
	chunks [maxChunks]atomic.Pointer[[chunkBytes]byte]
	cur    uint32 // chunk being filled (applier only)
	used   uint32
}

func (a *arena) add(s string) ref {
	if len(s) >= chunkBytes {
		s = s[:chunkBytes-1] // ids are far shorter; never reached
	}
	if a.chunks[a.cur].Load() == nil || int(a.used)+len(s) > chunkBytes {
		if a.chunks[a.cur].Load() != nil {
			a.cur++
		}
		a.chunks[a.cur].Store(new([chunkBytes]byte))
		a.used = 0
	}
	r := mkref(a.cur, a.used, uint32(len(s)))
	copy(a.chunks[a.cur].Load()[a.used:], s)
	a.used += uint32(len(s))
	return r
}

func (a *arena) string(r ref) string {
	if r.len() == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[r.chunk()].Load()[r.off()], int(r.len()))
}

// list is an append-only array whose chunks never move. Only the applier
// adds or writes; readers read an element after reading its number under
// a shard lock that the applier held after writing it.
type list[T any] struct {
	chunks [maxChunks]atomic.Pointer[[tableChunk]T]
	n      uint32 // applier only
}

func (l *list[T]) add(v T) uint32 {
	i := l.n
	c := l.chunks[i/tableChunk].Load()
	if c == nil {
		c = new([tableChunk]T)
		l.chunks[i/tableChunk].Store(c)
	}
	c[i%tableChunk] = v
	l.n++
	return i
}

func (l *list[T]) at(i uint32) *T { return &l.chunks[i/tableChunk].Load()[i%tableChunk] }

// table is a list of interned values.
type table[T any] struct {
	list[T]
	ids map[string]uint32 // applier only
}

// intern returns the number of the value under key, adding make() first.
func (t *table[T]) intern(key string, make func() T) uint32 {
	if i, ok := t.ids[key]; ok {
		return i
	}
	i := t.add(make())
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	t.ids[key] = i
	return i
}

func (t *table[T]) get(i uint32) T { return *t.at(i) }

// slotOf builds the slot of a state; cur is the slot of the same token it
// replaces (applyToken has checked the id), whose id it shares, or nil.
func (x *index) slotOf(st *gatepassv1.TokenState, logIndex uint64, cur *slot) slot {
	t := st.GetToken()
	d := check.NewToken(t, nil)
	sc := check.ScopeOf(t)
	s := slot{
		expire: d.Expire, created: uint32(d.Created), version: t.GetVersion(), logIndex: logIndex,
		status: uint8(d.Status), role: uint8(d.Role), neverExpires: d.NeverExpires,
		scope: x.scopes.intern(sc.WorkspaceID+"\x00"+sc.ProjectID+"\x00"+sc.OwnerID, func() *check.Scope { return &sc }),
	}
	if cur != nil {
		s.id = cur.id
	} else {
		s.id = x.ids.add(t.GetId())
	}
	if d.Networks != nil {
		s.networks = 1 + x.networks.intern(strings.Join(t.GetAllowedCidrs(), "\x00"), func() *[]netip.Prefix { return d.Networks })
	}
	return s
}

// entryOf is the entry a slot holds.
func (x *index) entryOf(s slot) Entry {
	e := Entry{
		Token: check.Token{
			ID: x.ids.string(s.id), Scope: x.scopes.get(s.scope),
			Expire: s.expire, Created: int64(s.created), Status: gatepassv1.TokenStatus(s.status),
			Role: gatepassv1.Role(s.role), NeverExpires: s.neverExpires,
		},
		Version: s.version, LogIndex: s.logIndex,
	}
	if s.networks > 0 {
		e.Networks = x.networks.get(s.networks - 1)
	}
	return e
}
