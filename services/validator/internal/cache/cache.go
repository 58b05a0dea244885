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
const schemaVersion = 2

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

// Cache is a validator's local state.
type Cache struct {
	db *bolt.DB
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
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open cache: %w", err)
	}
	return &Cache{db: db}, nil
}

// Close closes the cache.
func (c *Cache) Close() error { return c.db.Close() }

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
	return c.db.Update(func(tx *bolt.Tx) error {
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

// Apply applies items in one transaction and records the highest sequence.
// A checkpoint is compared with the state as of its place in the batch.
func (c *Cache) Apply(items []Item) (Result, error) {
	var res Result
	err := c.db.Update(func(tx *bolt.Tx) error {
		res = Result{}
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
				old, err := applyToken(tokens, it.Token, it.LogIndex)
				if errors.Is(err, errIgnored) {
					res.Ignored++
					continue
				}
				if err != nil {
					return err
				}
				if old == nil {
					count++
				}
				digest.Replace(old, it.Token)
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
	})
	return res, err
}

// errIgnored is returned by applyToken for a state that is not applied.
var errIgnored = errors.New("ignored")

// ErrCorrupt is returned when a stored value cannot be decoded.
var ErrCorrupt = errors.New("corrupt cache entry")

// applyToken stores st unless the cache holds the same or a newer version,
// or a revocation; it returns the state replaced (nil if none).
func applyToken(b *bolt.Bucket, st *gatepassv1.TokenState, logIndex uint64) (*gatepassv1.TokenState, error) {
	if len(st.GetSecretSha256()) != len(token.Digest{}) || st.GetToken().GetId() == "" {
		return nil, errIgnored
	}
	var cur *gatepassv1.TokenState
	if old := b.Get(st.GetSecretSha256()); old != nil {
		var err error
		if cur, _, err = decodeToken(old); err != nil {
			return nil, err
		}
		if cur.GetToken().GetId() != st.GetToken().GetId() ||
			st.GetToken().GetVersion() <= cur.GetToken().GetVersion() ||
			cur.GetToken().GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			return nil, errIgnored
		}
	}
	v, err := proto.Marshal(st)
	if err != nil {
		return nil, err
	}
	return cur, b.Put(st.GetSecretSha256(), append(binary.BigEndian.AppendUint64(nil, logIndex), v...))
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

// Token returns the cached state for a secret digest. An active token whose
// state came after the last matching checkpoint returns ErrUnverified.
func (c *Cache) Token(d token.Digest) (*gatepassv1.TokenState, error) {
	st, verified, err := c.State(d)
	if err == nil && !verified && st.GetToken().GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		return nil, ErrUnverified
	}
	return st, err
}

// State returns the cached state for a secret digest, and whether a
// matching checkpoint covers it.
func (c *Cache) State(d token.Digest) (*gatepassv1.TokenState, bool, error) {
	var st *gatepassv1.TokenState
	var verified bool
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTokens).Get(d[:])
		if v == nil {
			return ErrNotFound
		}
		var idx uint64
		var err error
		if st, idx, err = decodeToken(v); err != nil {
			return err
		}
		verified = idx <= u64(tx.Bucket(bucketMeta).Get(keyVerified))
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if !d.Equal(st.GetSecretSha256()) {
		return nil, false, ErrNotFound
	}
	return st, verified, nil
}

// ProjectWorkspace returns the workspace a project belongs to.
func (c *Cache) ProjectWorkspace(projectID string) (string, error) {
	var p gatepassv1.Project
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketProjects).Get([]byte(projectID))
		if v == nil {
			return ErrNotFound
		}
		return proto.Unmarshal(v, &p)
	})
	return p.GetWorkspaceId(), err
}

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
