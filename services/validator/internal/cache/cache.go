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
	bopts := &bolt.Options{Timeout: 2 * time.Second, NoSync: o.NoSync}
	db, err := bolt.Open(path, 0o600, bopts)
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
	if err == nil {
		c.db, err = remap(db, path, bopts)
	} else {
		db.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("open cache: %w", err)
	}
	return c, nil
}

// remap closes db and opens the file again. The check and the index have
// read every page through bbolt's memory map, and a page once read stays
// in the process's resident memory: a validator restarted with 1M tokens
// cached showed its whole cache file (480 MiB) there besides the index,
// although lookups never read the file. A new map holds only what
// applying reads from then on. The file is unlocked in between; another
// process that takes it then makes this open fail (bbolt's timeout), as
// it would have at first.
func remap(db *bolt.DB, path string, opts *bolt.Options) (*bolt.DB, error) {
	if err := db.Close(); err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, opts)
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
			c.x.put(token.Digest(st.GetSecretSha256()), c.x.slotOf(st, idx, nil))
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
