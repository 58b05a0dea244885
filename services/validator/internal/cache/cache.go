// Package cache is a validator's bbolt copy of the token stream: the latest
// state of every token (keyed by secret digest) and project, and the last
// stream sequence applied, all changed in one transaction so a crash never
// leaves the cache and its sequence apart.
//
// Apply keeps a token's state only when its version is newer than the one
// held, and never moves a token out of REVOKED, so replays, duplicates and
// reordering are harmless. It also keeps the state digest of package
// propagation, and checks it against every checkpoint the issuer puts on
// the stream: a token whose event came after the last checkpoint that
// matched is not trusted to be accepted (Token returns ErrUnverified).
//
// # Caveats
//
// A cache that cannot be opened or checked (a bbolt error, a failed
// consistency check, another schema version) is moved aside by
// OpenOrRebuild and a fresh one is started: the stream rebuilds it.
package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// schemaVersion changes whenever the stored format does; a cache of
// another version is rebuilt.
const schemaVersion = 3

var (
	bucketMeta     = []byte("meta")
	bucketTokens   = []byte("tokens")
	bucketProjects = []byte("projects")

	keySchema   = []byte("schema")
	keySeq      = []byte("applied_sequence")
	keyCreated  = []byte("stream_created")
	keyDigest   = []byte("state_digest")
	keyCount    = []byte("token_count")
	keyVerified = []byte("verified_log_index")
	// keyVerifiedInstance is the stream instance in which a checkpoint last
	// matched: only then does the stream hold the issuer's whole state.
	keyVerifiedInstance = []byte("verified_instance")
)

var (
	// ErrNotFound is returned when the cache holds no such token or project.
	ErrNotFound = errors.New("not found")
	// ErrUnverified is returned by Token for an active token whose state no
	// matching checkpoint has covered yet.
	ErrUnverified = errors.New("token state not yet verified against an issuer checkpoint")
	// ErrSchema is returned by Open for a cache of another schema version.
	ErrSchema = errors.New("cache schema version differs")
)

// Cache is a validator's local state: bbolt, and the in-memory index that
// lookups read (see index).
type Cache struct {
	db *bolt.DB
	x  *index
	// tx holds batches applied (and indexed) but not yet committed, and
	// staged counts their items; only the applier touches them.
	tx     *bolt.Tx
	staged int
}

// Options tune a cache.
type Options struct {
	// NoSync skips fsync: for simulations that crash nothing for real.
	NoSync bool
}

// Open opens or creates the cache at path and checks it.
func Open(path string, opts ...Options) (*Cache, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: o.NoSync})
	if err != nil {
		return nil, fmt.Errorf("open cache: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		fresh := tx.Bucket(bucketMeta) == nil
		for _, b := range [][]byte{bucketMeta, bucketTokens, bucketProjects} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySchema)
		switch {
		case v == nil && fresh:
			return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
		case len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion:
			return ErrSchema
		}
		for err := range tx.Check() {
			return fmt.Errorf("consistency check: %w", err)
		}
		return nil
	})
	c := &Cache{db: db, x: newIndex()}
	if err == nil {
		err = c.load()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open cache: %w", err)
	}
	return c, nil
}

// load fills the index from bbolt; a value that cannot be decoded makes
// the cache unusable (ErrCorrupt), so OpenOrRebuild starts a fresh one.
func (c *Cache) load() error {
	return c.db.View(func(tx *bolt.Tx) error {
		c.x.verified.Store(u64(tx.Bucket(bucketMeta).Get(keyVerified)))
		err := tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			st, idx, err := decodeToken(v)
			if err != nil {
				return err
			}
			if string(k) != st.GetToken().GetId() || len(st.GetSecretSha256()) != len(token.Digest{}) {
				return fmt.Errorf("%w: token stored under another id", ErrCorrupt)
			}
			c.x.put(token.Digest(st.GetSecretSha256()), c.x.entry(st, idx))
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketProjects).ForEach(func(k, v []byte) error {
			var p gatepassv1.Project
			if err := proto.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			c.x.putProject(string(k), p.GetWorkspaceId())
			return nil
		})
	})
}

// Close closes the cache. Batches not yet flushed are lost, as in a
// crash; a validator that stops on purpose flushes first.
func (c *Cache) Close() error {
	if c.tx != nil {
		_ = c.tx.Rollback()
		c.tx, c.staged = nil, 0
	}
	return c.db.Close()
}

// Position is where the cache stands in the stream.
type Position struct {
	// Sequence is the last stream sequence applied.
	Sequence uint64
	// StreamCreated identifies the stream instance the sequence belongs to.
	StreamCreated time.Time
	// Verified is true once a checkpoint of this instance matched the
	// cache: a new instance (a recreated stream) holds the issuer's whole
	// state only from the issuer's first checkpoint in it.
	Verified bool
}

// Position returns the stored position.
func (c *Cache) Position() (Position, error) {
	var p Position
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		p.Sequence = u64(b.Get(keySeq))
		if v := b.Get(keyCreated); v != nil {
			if err := p.StreamCreated.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("decode stream creation time: %w", err)
			}
			p.Verified = string(b.Get(keyVerifiedInstance)) == string(v)
		}
		return nil
	})
	return p, err
}

// Rewind sets the position to the start of a (new) stream instance,
// keeping the cached states: replaying the stream over them is safe because
// only newer versions are applied.
func (c *Cache) Rewind(created time.Time) error {
	if err := c.Flush(); err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error { return rewind(tx.Bucket(bucketMeta), created) })
}

func rewind(meta *bolt.Bucket, created time.Time) error {
	v, err := created.MarshalBinary()
	if err != nil {
		return err
	}
	if string(meta.Get(keyCreated)) != string(v) {
		if err := meta.Delete(keyVerifiedInstance); err != nil {
			return err
		}
	}
	if err := meta.Put(keyCreated, v); err != nil {
		return err
	}
	return meta.Put(keySeq, make([]byte, 8))
}

// Wipe forgets every state and starts over at the beginning of a stream
// instance: for a cache that disagrees with a checkpoint or cannot be read.
func (c *Cache) Wipe(created time.Time) error {
	if err := c.Flush(); err != nil {
		return err
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTokens, bucketProjects} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyDigest, keyCount, keyVerified, keyVerifiedInstance} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return rewind(meta, created)
	})
	if err == nil {
		c.x.reset()
	}
	return err
}

// Item is one event to apply: its stream sequence, the issuer's log index
// and body. A nil body advances the sequence only (for dropped messages).
type Item struct {
	Sequence   uint64
	LogIndex   uint64
	Token      *gatepassv1.TokenState
	Project    *gatepassv1.ProjectState
	Checkpoint *gatepassv1.Checkpoint
}

// Result counts what Apply did.
type Result struct {
	Applied, Ignored int
	// Verified is the log index of the last checkpoint that matched.
	Verified uint64
	// InstanceVerified is true once a checkpoint of the stream instance
	// followed has matched (in this batch or before).
	InstanceVerified bool
	// Mismatch is the checkpoint the cache disagreed with, if any.
	Mismatch *gatepassv1.Checkpoint
}

// ErrNotDurable is returned when batches reached the index (and were
// reported) but their transaction failed to commit: memory is ahead of
// disk, and the validator may have reported states it will not find after
// a restart. The process must end; at its restart it serves only once it
// has caught up with the stream again.
var ErrNotDurable = errors.New("cache commit failed after batches were indexed")

// Apply applies items in one transaction, with the highest sequence, and
// commits it. A checkpoint is compared with the state as of its place in
// the batch.
func (c *Cache) Apply(items []Item) (Result, error) {
	res, err := c.ApplyIndexed(items, nil)
	if err == nil {
		err = c.Flush()
	}
	return res, err
}

// ApplyIndexed applies items to the index at once and to bbolt in the
// open transaction, which Flush commits: one commit (and its syncs) for
// many batches, while lookups and reports need not wait for the disk.
// indexed (if not nil) runs once the index holds the batch.
//
// That is safe because a validator that restarts serves only once it has
// caught up with the stream head again, and so re-applies whatever did
// not reach the disk; a commit that fails returns ErrNotDurable.
func (c *Cache) ApplyIndexed(items []Item, indexed func(Result)) (Result, error) {
	if c.tx == nil {
		tx, err := c.db.Begin(true)
		if err != nil {
			return Result{}, err
		}
		c.tx = tx
	}
	res, b, err := c.stage(c.tx, items)
	if err != nil {
		ahead := c.staged > 0
		_ = c.tx.Rollback()
		c.tx, c.staged = nil, 0
		if ahead {
			return res, fmt.Errorf("%w: %v", ErrNotDurable, err)
		}
		return res, err
	}
	// Tokens first, then the verified index: a lookup never sees a new
	// state as verified before the checkpoint that covers it.
	for d, e := range b.tokens {
		c.x.put(d, e)
	}
	for id, ws := range b.projects {
		c.x.putProject(id, ws)
	}
	c.x.verified.Store(res.Verified)
	if indexed != nil {
		indexed(res)
	}
	c.staged += len(items)
	return res, nil
}

// Staged returns the number of items applied but not yet committed.
func (c *Cache) Staged() int { return c.staged }

// Flush commits the batches applied since the last commit.
func (c *Cache) Flush() error {
	if c.tx == nil {
		return nil
	}
	tx := c.tx
	c.tx, c.staged = nil, 0
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	return nil
}

// stage writes items into tx and returns what the index must take.
func (c *Cache) stage(tx *bolt.Tx, items []Item) (Result, batch, error) {
	res, b := Result{}, batch{tokens: map[token.Digest]*Entry{}, projects: map[string]string{}}
	err := func() error {
		tokens, projects, meta := tx.Bucket(bucketTokens), tx.Bucket(bucketProjects), tx.Bucket(bucketMeta)
		seq := u64(meta.Get(keySeq))
		digest, err := propagation.ParseDigest(meta.Get(keyDigest))
		if err != nil {
			return err
		}
		count := u64(meta.Get(keyCount))
		verified := u64(meta.Get(keyVerified))
		instance := meta.Get(keyCreated)
		res.InstanceVerified = instance != nil && string(meta.Get(keyVerifiedInstance)) == string(instance)
		for _, it := range items {
			seq = max(seq, it.Sequence)
			switch {
			case it.Token != nil:
				old, err := c.applyToken(tokens, &b, it.Token, it.LogIndex)
				if errors.Is(err, errIgnored) {
					res.Ignored++
					continue
				}
				if err != nil {
					return err
				}
				if old == nil {
					count++
				} else {
					digest.Remove(old.ID, old.Version, old.Status)
				}
				digest.Replace(nil, it.Token)
				res.Applied++
			case it.Project != nil:
				p := it.Project.GetProject()
				v, err := proto.Marshal(p)
				if err != nil {
					return err
				}
				if err := projects.Put([]byte(p.GetId()), v); err != nil {
					return err
				}
				b.projects[p.GetId()] = p.GetWorkspaceId()
				res.Applied++
			case it.Checkpoint != nil:
				cp := it.Checkpoint
				if cp.GetLogIndex() < verified {
					res.Ignored++ // an older checkpoint, replayed
					continue
				}
				// A checkpoint at the index already verified still verifies
				// a new instance (the issuer's first in a recreated stream).
				if cp.GetTokens() == count && string(cp.GetDigest()) == string(digest[:]) {
					verified = cp.GetLogIndex()
					res.Applied++
					if instance != nil && !res.InstanceVerified {
						res.InstanceVerified = true
						if err := meta.Put(keyVerifiedInstance, instance); err != nil {
							return err
						}
					}
				} else {
					res.Mismatch = cp
				}
			default:
				res.Ignored++
			}
		}
		res.Verified = verified
		if err := meta.Put(keyDigest, digest[:]); err != nil {
			return err
		}
		if err := meta.Put(keyCount, binary.BigEndian.AppendUint64(nil, count)); err != nil {
			return err
		}
		if err := meta.Put(keyVerified, binary.BigEndian.AppendUint64(nil, verified)); err != nil {
			return err
		}
		return meta.Put(keySeq, binary.BigEndian.AppendUint64(nil, seq))
	}()
	return res, b, err
}

// batch holds what a transaction changes, for the index.
type batch struct {
	tokens   map[token.Digest]*Entry
	projects map[string]string
}

// errIgnored is returned by applyToken for a state that is not applied.
var errIgnored = errors.New("ignored")

// ErrCorrupt is returned when a stored value cannot be decoded.
var ErrCorrupt = errors.New("corrupt cache entry")

// applyToken stores st unless the cache holds the same or a newer version,
// or a revocation; it returns the entry replaced (nil if none). What the
// cache holds is read from the batch, else from the index, never decoded
// from bbolt.
func (c *Cache) applyToken(bk *bolt.Bucket, b *batch, st *gatepassv1.TokenState, logIndex uint64) (*Entry, error) {
	if len(st.GetSecretSha256()) != len(token.Digest{}) || st.GetToken().GetId() == "" {
		return nil, errIgnored
	}
	d := token.Digest(st.GetSecretSha256())
	cur, ok := b.tokens[d]
	if !ok {
		cur = c.x.get(d)
	}
	if cur != nil && (cur.ID != st.GetToken().GetId() ||
		st.GetToken().GetVersion() <= cur.Version ||
		cur.Status == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED) {
		return nil, errIgnored
	}
	v, err := proto.Marshal(compact(st))
	if err != nil {
		return nil, err
	}
	// Keyed by token id, not digest: ids grow with time, so a stream
	// replayed in order appends to the tree instead of touching a random
	// page per token. Lookups read the index, keyed by digest.
	if err := bk.Put([]byte(st.GetToken().GetId()), append(binary.BigEndian.AppendUint64(nil, logIndex), v...)); err != nil {
		return nil, err
	}
	b.tokens[d] = c.x.entry(st, logIndex)
	return cur, nil
}

// compact is the part of a state the cache keeps: what decisions, answers
// and the checkpoint digest read. Names, descriptions and times stay with
// the issuer, and the cache is about half the size.
func compact(st *gatepassv1.TokenState) *gatepassv1.TokenState {
	t := st.GetToken()
	return &gatepassv1.TokenState{SecretSha256: st.GetSecretSha256(), Token: &gatepassv1.Token{
		Id: t.GetId(), WorkspaceId: t.GetWorkspaceId(), ProjectId: t.GetProjectId(), OwnerId: t.GetOwnerId(),
		Role: t.GetRole(), Status: t.GetStatus(), ExpireTime: t.GetExpireTime(), NeverExpires: t.GetNeverExpires(),
		AllowedCidrs: t.GetAllowedCidrs(), Version: t.GetVersion(),
	}}
}

// decodeToken reads a stored token: its log index, then the state.
func decodeToken(v []byte) (*gatepassv1.TokenState, uint64, error) {
	if len(v) < 8 {
		return nil, 0, ErrCorrupt
	}
	var st gatepassv1.TokenState
	if err := proto.Unmarshal(v[8:], &st); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &st, binary.BigEndian.Uint64(v), nil
}

// Lookup returns the cached token for a secret digest. An active token
// whose state came after the last matching checkpoint returns
// ErrUnverified.
func (c *Cache) Lookup(d token.Digest) (*Entry, error) {
	e, verified, err := c.Entry(d)
	if err == nil && !verified && e.Status == gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		return nil, ErrUnverified
	}
	return e, err
}

// Entry returns the cached token for a secret digest, and whether a
// matching checkpoint covers it.
func (c *Cache) Entry(d token.Digest) (*Entry, bool, error) {
	e := c.x.get(d)
	if e == nil {
		return nil, false, ErrNotFound
	}
	return e, e.LogIndex <= c.x.verified.Load(), nil
}

// Tokens returns the number of tokens held.
func (c *Cache) Tokens() int { return c.x.size() }

// ProjectWorkspace returns the workspace a project belongs to, and false
// for a project the cache does not hold.
func (c *Cache) ProjectWorkspace(projectID string) (string, bool) {
	return c.x.project(projectID)
}

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
