// Package store is the issuer's bbolt database, the source of truth for
// workspaces, projects, members, tokens, the audit trail and the outbox.
//
// Every change to a token or project and the signed event announcing it are
// written in one bbolt transaction (Update). The publisher later moves
// outbox entries to JetStream and deletes them once acknowledged, so a crash
// between commit and publish loses nothing.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	bucketMeta       = []byte("meta")
	bucketWorkspaces = []byte("workspaces")
	bucketProjects   = []byte("projects")
	bucketMembers    = []byte("members")
	bucketTokens     = []byte("tokens")
	bucketDigests    = []byte("digests")
	bucketWSTokens   = []byte("workspace_tokens")
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
	db   *bolt.DB
	seal func(*gatepassv1.Event) ([]byte, error)
	now  func() time.Time
	// batches feeds commitLoop (Batch); closed (under closing) by Close.
	batches chan *call
	stopped chan struct{}
	closing sync.RWMutex
	closed  bool
	forget  *forgetting
}

// Open opens (or creates) the database at path. Events are sealed with signer.
func Open(path string, signer *event.Signer, now func() time.Time) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open issuer database: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketWorkspaces, bucketProjects, bucketMembers, bucketTokens, bucketDigests, bucketWSTokens, bucketAudit, bucketOutbox, bucketOutboxBulk, bucketOutboxAudit, bucketPolicies, bucketSchedules, bucketUsage} {
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
		return initDigest(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open issuer database: %w", err)
	}
	s := &Store{db: db, seal: signer.Seal, now: now, batches: make(chan *call, maxBatch), stopped: make(chan struct{}), forget: newForgetting()}
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
}

// Update runs fn in one read-write transaction.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.db.Update(func(btx *bolt.Tx) error { return fn(&Tx{btx: btx, s: s}) })
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

func put(tx *Tx, bucket []byte, key string, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", bucket, err)
	}
	return tx.btx.Bucket(bucket).Put([]byte(key), v)
}

// Workspace returns a workspace.
func (tx *Tx) Workspace(id string) (*gatepassv1.Workspace, error) {
	return get(tx, bucketWorkspaces, id, &gatepassv1.Workspace{})
}

// PutWorkspace writes a workspace.
func (tx *Tx) PutWorkspace(w *gatepassv1.Workspace) error {
	return put(tx, bucketWorkspaces, w.GetId(), w)
}

// Project returns a project.
func (tx *Tx) Project(id string) (*gatepassv1.Project, error) {
	return get(tx, bucketProjects, id, &gatepassv1.Project{})
}

// PutProject writes a project and queues its event.
func (tx *Tx) PutProject(p *gatepassv1.Project) (eventID string, err error) {
	if err := put(tx, bucketProjects, p.GetId(), p); err != nil {
		return "", err
	}
	return tx.enqueue(propagation.LaneChange, &gatepassv1.Event{Body: &gatepassv1.Event_Project{Project: &gatepassv1.ProjectState{Project: p}}})
}

// Projects lists a workspace's projects.
func (tx *Tx) Projects(workspaceID string) ([]*gatepassv1.Project, error) {
	var out []*gatepassv1.Project
	err := tx.btx.Bucket(bucketProjects).ForEach(func(_, v []byte) error {
		p := &gatepassv1.Project{}
		if err := proto.Unmarshal(v, p); err != nil {
			return fmt.Errorf("decode project: %w", err)
		}
		if p.GetWorkspaceId() == workspaceID {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Member returns a member.
func (tx *Tx) Member(id string) (*gatepassv1.Member, error) {
	return get(tx, bucketMembers, id, &gatepassv1.Member{})
}

// PutMember writes a member.
func (tx *Tx) PutMember(m *gatepassv1.Member) error {
	return put(tx, bucketMembers, m.GetId(), m)
}

// Members lists a workspace's members.
func (tx *Tx) Members(workspaceID string) ([]*gatepassv1.Member, error) {
	var out []*gatepassv1.Member
	err := tx.btx.Bucket(bucketMembers).ForEach(func(_, v []byte) error {
		m := &gatepassv1.Member{}
		if err := proto.Unmarshal(v, m); err != nil {
			return fmt.Errorf("decode member: %w", err)
		}
		if m.GetWorkspaceId() == workspaceID {
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Token returns a token's stored state.
func (tx *Tx) Token(id string) (*gatepassv1.TokenState, error) {
	return get(tx, bucketTokens, id, &gatepassv1.TokenState{})
}

// TokenByDigest finds a token by the SHA-256 of its secret.
func (tx *Tx) TokenByDigest(d token.Digest) (*gatepassv1.TokenState, error) {
	id := tx.btx.Bucket(bucketDigests).Get(d[:])
	if id == nil {
		return nil, fmt.Errorf("token %w", ErrNotFound)
	}
	st, err := tx.Token(string(id))
	if err != nil {
		return nil, err
	}
	if !d.Equal(st.GetSecretSha256()) {
		return nil, fmt.Errorf("token %w", ErrNotFound)
	}
	return st, nil
}

// PutToken writes a token's state, bumping its version and update time, and
// queues the full-state event. It returns the event id.
func (tx *Tx) PutToken(st *gatepassv1.TokenState) (eventID string, err error) {
	t := st.GetToken()
	old, err := tx.Token(t.GetId())
	if errors.Is(err, ErrNotFound) {
		old = nil
	} else if err != nil {
		return "", err
	}
	t.Version++
	t.UpdateTime = timestamppb.New(tx.s.now())
	if err := put(tx, bucketTokens, t.GetId(), st); err != nil {
		return "", err
	}
	if err := tx.updateDigest(old, st); err != nil {
		return "", err
	}
	if err := tx.btx.Bucket(bucketDigests).Put(st.GetSecretSha256(), []byte(t.GetId())); err != nil {
		return "", err
	}
	if err := tx.btx.Bucket(bucketWSTokens).Put(indexKey(t.GetWorkspaceId(), t.GetId()), nil); err != nil {
		return "", err
	}
	if err := tx.indexOwner(old, st); err != nil {
		return "", err
	}
	if err := tx.indexProject(old, st); err != nil {
		return "", err
	}
	if err := tx.indexName(old, st); err != nil {
		return "", err
	}
	return tx.enqueue(propagation.LaneChange, &gatepassv1.Event{Body: &gatepassv1.Event_Token{Token: st}})
}

// ScanTokens calls fn for the tokens of a workspace in id order (which is
// creation order), starting after the id after, until fn returns false.
func (tx *Tx) ScanTokens(workspaceID, after string, fn func(*gatepassv1.Token) bool) error {
	return tx.scanIndex(bucketWSTokens, workspaceID, after, tokenOf(fn))
}

// ScanOwnerTokens is ScanTokens for the tokens a member owns: O(log n + k).
func (tx *Tx) ScanOwnerTokens(ownerID, after string, fn func(*gatepassv1.Token) bool) error {
	return tx.scanIndex(bucketOwnerTokens, ownerID, after, tokenOf(fn))
}

// ScanProjectTokens is ScanTokens for a project's tokens: O(log n + k).
func (tx *Tx) ScanProjectTokens(projectID, after string, fn func(*gatepassv1.Token) bool) error {
	return tx.scanIndex(bucketProjectTokens, projectID, after, tokenOf(fn))
}

func tokenOf(fn func(*gatepassv1.Token) bool) func(*gatepassv1.TokenState) bool {
	return func(st *gatepassv1.TokenState) bool { return fn(st.GetToken()) }
}

// scanIndex walks the tokens an index lists under of (see indexKey), in id
// order after the id after, until fn returns false.
func (tx *Tx) scanIndex(bucket []byte, of, after string, fn func(*gatepassv1.TokenState) bool) error {
	prefix := indexKey(of, "")
	c := tx.btx.Bucket(bucket).Cursor()
	k, _ := c.Seek(indexKey(of, after))
	if after != "" && k != nil && bytes.Equal(k, indexKey(of, after)) {
		k, _ = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		st, err := tx.Token(string(k[len(prefix):]))
		if err != nil {
			return err
		}
		if !fn(st) {
			return nil
		}
	}
	return nil
}

// Audit appends an audit record and queues it for the audit stream.
func (tx *Tx) Audit(a *gatepassv1.AuditEvent) error {
	b := tx.btx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	a.Id = fmt.Sprintf("aud_%016x", seq)
	a.Time = timestamppb.New(tx.s.now())
	if err := put(tx, bucketAudit, string(seqKey(seq)), a); err != nil {
		return err
	}
	_, err = tx.enqueue(propagation.LaneAudit, &gatepassv1.Event{Body: &gatepassv1.Event_Audit{Audit: a}})
	return err
}

// ScanAudit calls fn for a workspace's audit records, newest first,
// starting before the record id before ("" starts at the newest), until fn
// returns false.
func (tx *Tx) ScanAudit(workspaceID, before string, fn func(*gatepassv1.AuditEvent) bool) error {
	c := tx.btx.Bucket(bucketAudit).Cursor()
	var k, v []byte
	if before == "" {
		k, v = c.Last()
	} else {
		var seq uint64
		if _, err := fmt.Sscanf(before, "aud_%016x", &seq); err != nil {
			return fmt.Errorf("audit cursor: %w", err)
		}
		c.Seek(seqKey(seq))
		k, v = c.Prev()
	}
	for ; k != nil; k, v = c.Prev() {
		a := &gatepassv1.AuditEvent{}
		if err := proto.Unmarshal(v, a); err != nil {
			return fmt.Errorf("decode audit event: %w", err)
		}
		if a.GetWorkspaceId() == workspaceID && !fn(a) {
			return nil
		}
	}
	return nil
}

// Policy returns a workspace's stored policy (nil when never set).
func (tx *Tx) Policy(workspaceID string) (*gatepassv1.Policy, error) {
	p, err := get(tx, bucketPolicies, workspaceID, &gatepassv1.Policy{})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return p, err
}

// PutPolicy stores a workspace's policy.
func (tx *Tx) PutPolicy(workspaceID string, p *gatepassv1.Policy) error {
	return put(tx, bucketPolicies, workspaceID, p)
}

// Usage returns the usage statistics of a token (empty when none).
func (tx *Tx) Usage(tokenID string) (*gatepassv1.TokenUsage, error) {
	u, err := get(tx, bucketUsage, tokenID, &gatepassv1.TokenUsage{})
	if errors.Is(err, ErrNotFound) {
		return &gatepassv1.TokenUsage{TokenId: tokenID}, nil
	}
	return u, err
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
