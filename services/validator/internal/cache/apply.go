package cache

import (
	"encoding/binary"
	"errors"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

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
	res, b := Result{}, batch{tokens: map[token.Digest]slot{}, projects: map[string]string{}}
	m, err := readTally(tx.Bucket(bucketMeta))
	if err != nil {
		return res, b, err
	}
	res.InstanceVerified = m.instanceVerified
	tokens, projects := tx.Bucket(bucketTokens), tx.Bucket(bucketProjects)
	// Token ids grow with time, so a replay, and every new token, writes
	// at the end of the bucket (applyToken); bbolt's default split, half
	// full, would leave its pages half empty for good (a cache of 1M
	// tokens took 426 MiB that way, 228 MiB now).
	tokens.FillPercent = appendFill
	for _, it := range items {
		m.seq = max(m.seq, it.Sequence)
		switch {
		case it.Token != nil:
			old, err := c.applyToken(tokens, &b, it.Token, it.LogIndex)
			if errors.Is(err, errIgnored) {
				res.Ignored++
				continue
			}
			if err != nil {
				return res, b, err
			}
			m.replace(old, it.Token)
			res.Applied++
		case it.Project != nil:
			if err := putProject(projects, &b, it.Project.GetProject()); err != nil {
				return res, b, err
			}
			res.Applied++
		case it.Checkpoint != nil:
			m.check(it.Checkpoint, &res)
		default:
			res.Ignored++
		}
	}
	res.Verified = m.verified
	return res, b, m.write(res.InstanceVerified)
}

func putProject(projects *bolt.Bucket, b *batch, p *gatepassv1.Project) error {
	v, err := proto.Marshal(p)
	if err != nil {
		return err
	}
	b.projects[p.GetId()] = p.GetWorkspaceId()
	return projects.Put([]byte(p.GetId()), v)
}

// batch holds what a transaction changes, for the index.
type batch struct {
	tokens   map[token.Digest]slot
	projects map[string]string
}

// errIgnored is returned by applyToken for a state that is not applied.
var errIgnored = errors.New("ignored")

// appendFill is how full the token bucket's pages are left when they
// split, as etcd's sequential puts leave theirs.
const appendFill = 0.9

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
		cur, ok = c.x.slot(d)
	}
	var old *Entry
	var prev *slot
	if ok {
		e := c.x.entryOf(cur)
		if e.ID != st.GetToken().GetId() || st.GetToken().GetVersion() <= e.Version ||
			e.Status == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			return nil, errIgnored
		}
		old, prev = &e, &cur
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
	b.tokens[d] = c.x.slotOf(st, logIndex, prev)
	return old, nil
}

// compact is the part of a state the cache keeps: what decisions, answers
// and the checkpoint digest read. Names, descriptions and times stay with
// the issuer, and the cache is about half the size.
func compact(st *gatepassv1.TokenState) *gatepassv1.TokenState {
	t := st.GetToken()
	return &gatepassv1.TokenState{SecretSha256: st.GetSecretSha256(), Token: &gatepassv1.Token{
		Id: t.GetId(), WorkspaceId: t.GetWorkspaceId(), ProjectId: t.GetProjectId(), OwnerId: t.GetOwnerId(),
		Role: t.GetRole(), Status: t.GetStatus(), ExpireTime: t.GetExpireTime(), NeverExpires: t.GetNeverExpires(),
		AllowedCidrs: t.GetAllowedCidrs(), Version: t.GetVersion(), CreateTime: t.GetCreateTime(),
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
