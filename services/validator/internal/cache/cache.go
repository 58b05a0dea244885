// Package cache is a validator's bbolt copy of the token stream: the latest
// state of every token (keyed by secret digest) and project, and the last
// stream sequence applied, all changed in one transaction so a crash never
// leaves the cache and its sequence apart.
//
// Apply keeps a token's state only when its version is newer than the one
// held, and never moves a token out of REVOKED, so replays, duplicates and
// reordering are harmless.
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

var (
	bucketMeta     = []byte("meta")
	bucketTokens   = []byte("tokens")
	bucketProjects = []byte("projects")

	keySeq     = []byte("applied_sequence")
	keyCreated = []byte("stream_created")
)

// ErrNotFound is returned when the cache holds no such token or project.
var ErrNotFound = errors.New("not found")

// Cache is a validator's local state.
type Cache struct {
	db *bolt.DB
}

// Open opens or creates the cache at path.
func Open(path string) (*Cache, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open cache: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketTokens, bucketProjects} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
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
}

// Position returns the stored position.
func (c *Cache) Position() (Position, error) {
	var p Position
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(keySeq); len(v) == 8 {
			p.Sequence = binary.BigEndian.Uint64(v)
		}
		if v := b.Get(keyCreated); v != nil {
			if err := p.StreamCreated.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("decode stream creation time: %w", err)
			}
		}
		return nil
	})
	return p, err
}

// Rewind sets the position to the start of a (new) stream instance,
// keeping the cached states: replaying the stream over them is safe because
// only newer versions are applied.
func (c *Cache) Rewind(created time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		v, err := created.MarshalBinary()
		if err != nil {
			return err
		}
		if err := b.Put(keyCreated, v); err != nil {
			return err
		}
		return b.Put(keySeq, make([]byte, 8))
	})
}

// Item is one event to apply: its stream sequence and body. A nil body
// advances the sequence only (for dropped messages).
type Item struct {
	Sequence uint64
	Token    *gatepassv1.TokenState
	Project  *gatepassv1.ProjectState
}

// Result counts what Apply did.
type Result struct {
	Applied, Ignored int
}

// Apply applies items in one transaction and records the highest sequence.
func (c *Cache) Apply(items []Item) (Result, error) {
	var res Result
	err := c.db.Update(func(tx *bolt.Tx) error {
		res = Result{}
		tokens, projects, meta := tx.Bucket(bucketTokens), tx.Bucket(bucketProjects), tx.Bucket(bucketMeta)
		var seq uint64
		if v := meta.Get(keySeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		for _, it := range items {
			seq = max(seq, it.Sequence)
			switch {
			case it.Token != nil:
				ok, err := applyToken(tokens, it.Token)
				if err != nil {
					return err
				}
				count(&res, ok)
			case it.Project != nil:
				p := it.Project.GetProject()
				v, err := proto.Marshal(p)
				if err != nil {
					return err
				}
				if err := projects.Put([]byte(p.GetId()), v); err != nil {
					return err
				}
				count(&res, true)
			default:
				count(&res, false)
			}
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return meta.Put(keySeq, k[:])
	})
	return res, err
}

func count(r *Result, applied bool) {
	if applied {
		r.Applied++
	} else {
		r.Ignored++
	}
}

func applyToken(b *bolt.Bucket, st *gatepassv1.TokenState) (bool, error) {
	if len(st.GetSecretSha256()) != len(token.Digest{}) {
		return false, nil
	}
	if old := b.Get(st.GetSecretSha256()); old != nil {
		var cur gatepassv1.TokenState
		if err := proto.Unmarshal(old, &cur); err != nil {
			return false, fmt.Errorf("decode cached token: %w", err)
		}
		if cur.GetToken().GetId() != st.GetToken().GetId() ||
			st.GetToken().GetVersion() <= cur.GetToken().GetVersion() ||
			cur.GetToken().GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			return false, nil
		}
	}
	v, err := proto.Marshal(st)
	if err != nil {
		return false, err
	}
	return true, b.Put(st.GetSecretSha256(), v)
}

// Token returns the cached state for a secret digest.
func (c *Cache) Token(d token.Digest) (*gatepassv1.TokenState, error) {
	var st gatepassv1.TokenState
	err := c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTokens).Get(d[:])
		if v == nil {
			return ErrNotFound
		}
		return proto.Unmarshal(v, &st)
	})
	if err != nil {
		return nil, err
	}
	if !d.Equal(st.GetSecretSha256()) {
		return nil, ErrNotFound
	}
	return &st, nil
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
