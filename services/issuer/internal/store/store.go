// Package store is the issuer's bbolt database, the source of truth for
// workspaces, projects, members, tokens, the audit trail and the outbox.
//
// Every change to a token or project and the signed event announcing it are
// written in one bbolt transaction (Update). The publisher later moves
// outbox entries to JetStream and deletes them once acknowledged, so a crash
// between commit and publish loses nothing.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

var (
	bucketMeta       = []byte("meta")
	bucketWorkspaces = []byte("workspaces")
	bucketProjects   = []byte("projects")
	bucketMembers    = []byte("members")
	bucketTokens     = []byte("tokens")
	// bucketDigests indexed tokens by the SHA-256 of their secret; that
	// index is now in memory (secretIndex), and Open deletes the bucket.
	bucketDigests = []byte("digests")
	// bucketTokenSecrets holds each token's secret digest by token id, for
	// building the index in memory at open: ids grow with creation time,
	// so a create appends here.
	bucketTokenSecrets = []byte("token_secrets")
	bucketWSTokens     = []byte("workspace_tokens")
	// bucketOwnerTokens indexes tokens by owner: owner id, NUL, token id.
	bucketOwnerTokens = []byte("owner_tokens")
	// bucketProjectTokens indexes project tokens: project id, NUL, token id.
	bucketProjectTokens = []byte("project_tokens")
	bucketAudit         = []byte("audit")
	bucketOutbox        = []byte("outbox")
	// Lanes of the outbox besides bucketOutbox (lifecycle changes).
	bucketOutboxBulk  = []byte("outbox_bulk")
	bucketOutboxAudit = []byte("outbox_audit")
	bucketPolicies    = []byte("policies")
	bucketSchedules   = []byte("schedules")
	bucketUsage       = []byte("usage")

	keyBootstrap = []byte("bootstrap_workspace")
	// keyStreamInstance is the creation time of the stream last published to.
	keyStreamInstance = []byte("stream_instance")
	// keyDigest and keyTokenCount summarize every token's state for
	// checkpoints (package propagation), kept current by PutToken.
	keyDigest     = []byte("state_digest")
	keyTokenCount = []byte("token_count")
)

var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrBootstrapped is returned by Bootstrap when the database already
	// holds a workspace.
	ErrBootstrapped = errors.New("already bootstrapped")
)

// Store is the issuer's database.
type Store struct {
	db        *bolt.DB
	secrets   *secretIndex
	sealBatch func([][]byte) ([][]byte, error)
	now       func() time.Time
	// batches feeds commitLoop (Batch); closed (under closing) by Close.
	batches chan *call
	// window is how long a commit under load waits to gather calls, and
	// quiet how long without commits ends the load (gatherWindow and
	// quietAfter; tests set them before the Batch calls they are for).
	window, quiet time.Duration
	stopped       chan struct{}
	closing       sync.RWMutex
	closed        bool
	forget        *forgetting
	// observe, if set, learns of every commit of Batch calls.
	observe atomic.Pointer[func(changes int, took time.Duration)]
}

// ObserveCommits has fn called after every commit of Batch calls, with
// how many were committed together and how long the transaction took
// (their functions, signing, the write and its syncs).
func (s *Store) ObserveCommits(fn func(changes int, took time.Duration)) {
	s.observe.Store(&fn)
}

// Open opens (or creates) the database at path. Events are sealed with signer.
func Open(path string, signer *event.Signer, now func() time.Time) (*Store, error) {
	opts := &bolt.Options{Timeout: 2 * time.Second}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("open issuer database: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketWorkspaces, bucketProjects, bucketMembers, bucketTokens, bucketWSTokens, bucketAudit, bucketOutbox, bucketOutboxBulk, bucketOutboxAudit, bucketPolicies, bucketSchedules, bucketUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := initOwnerIndex(tx); err != nil {
			return err
		}
		if err := initProjectIndex(tx); err != nil {
			return err
		}
		if err := initNameIndex(tx); err != nil {
			return err
		}
		if err := initNotices(tx); err != nil {
			return err
		}
		if err := initTokenSecrets(tx); err != nil {
			return err
		}
		if err := dropBucket(tx, bucketDigests); err != nil {
			return err
		}
		return initDigest(tx)
	})
	var secrets *secretIndex
	if err == nil {
		err = db.View(func(tx *bolt.Tx) (err error) {
			secrets, err = loadSecrets(tx)
			return err
		})
	}
	if err == nil {
		// What building the index read stays mapped in the process's
		// resident memory (all of the file, 1.5 GiB at 1.35M tokens, when
		// it read the token records); a new map holds only what is read
		// from now on.
		if err = db.Close(); err == nil {
			db, err = bolt.Open(path, 0o600, opts)
		}
	} else {
		db.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("open issuer database: %w", err)
	}
	s := &Store{db: db, secrets: secrets, sealBatch: signer.SealBatch, now: now, batches: make(chan *call, maxBatch), window: gatherWindow, quiet: quietAfter, stopped: make(chan struct{}), forget: newForgetting()}
	go s.commitLoop()
	return s, nil
}

// Close commits the batches under way and closes the database.
func (s *Store) Close() error {
	s.closing.Lock()
	if !s.closed {
		s.closed = true
		close(s.batches)
	}
	s.closing.Unlock()
	<-s.stopped
	return s.db.Close()
}

// Tx is a read-write transaction. Writes through it also queue the events
// and audit records that announce them, committed together.
type Tx struct {
	btx *bolt.Tx
	s   *Store
	// unsealed are the events enqueued, signed before the commit.
	unsealed []unsealed
	// secrets are the changes to the secret index, applied once the
	// transaction has committed (committed).
	secrets []secretChange
}

// Update runs fn in one read-write transaction.
func (s *Store) Update(fn func(tx *Tx) error) error {
	var tx *Tx
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx = &Tx{btx: btx, s: s}
		if err := fn(tx); err != nil {
			return err
		}
		return tx.sealAll()
	})
	if err == nil {
		tx.committed()
	}
	return err
}

// committed makes what the transaction changed outside bbolt take effect,
// once bbolt has committed it.
func (tx *Tx) committed() {
	tx.s.secrets.apply(tx.secrets)
}

// dropBucket deletes a bucket that is no longer used, if it is there.
func dropBucket(tx *bolt.Tx, name []byte) error {
	if tx.Bucket(name) == nil {
		return nil
	}
	return tx.DeleteBucket(name)
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx, s: s}) })
}

// BootstrapWorkspace returns the id of the bootstrapped workspace, or "".
func (tx *Tx) BootstrapWorkspace() string {
	return string(tx.btx.Bucket(bucketMeta).Get(keyBootstrap))
}

// MarkBootstrapped records the bootstrap; it fails if done before.
func (tx *Tx) MarkBootstrapped(workspaceID string) error {
	if tx.BootstrapWorkspace() != "" {
		return ErrBootstrapped
	}
	return tx.btx.Bucket(bucketMeta).Put(keyBootstrap, []byte(workspaceID))
}

func get[M proto.Message](tx *Tx, bucket []byte, key string, m M) (M, error) {
	v := tx.btx.Bucket(bucket).Get([]byte(key))
	if v == nil {
		return m, fmt.Errorf("%s %w", bucket, ErrNotFound)
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return m, fmt.Errorf("decode %s record: %w", bucket, err)
	}
	return m, nil
}

// seqFill is how full pages are left when they split under writes whose
// keys come after every key in their range (a new token's id, an audit or
// outbox sequence, a new token's entry in an index), as etcd's
// UnsafeSeqPut does. bbolt's default, half, suits keys that arrive at
// random (the digest and name indexes); for keys that only grow it left
// those buckets half empty for good: at 1M tokens the tokens, audit,
// workspace and owner buckets took 1.2 GB of pages for 0.58 GB of data
// (at 100k the whole file: 145 MiB, 96 MiB with this; commits write as
// many pages either way, TestGrowingBucketsFillTheirPages).
// Set on the bucket a transaction holds (bbolt gives a writable
// transaction one handle per bucket, which put writes through too).
const seqFill = 0.9

// appending marks bucket as written at the end of its ranges in this
// transaction.
func (tx *Tx) appending(bucket []byte) *bolt.Bucket {
	b := tx.btx.Bucket(bucket)
	b.FillPercent = seqFill
	return b
}

func put(tx *Tx, bucket []byte, key string, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", bucket, err)
	}
	return tx.btx.Bucket(bucket).Put([]byte(key), v)
}

// PutUsage stores a token's usage statistics. They are not token state: no
// version, no event.
func (tx *Tx) PutUsage(u *gatepassv1.TokenUsage) error {
	return put(tx, bucketUsage, u.GetTokenId(), u)
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
