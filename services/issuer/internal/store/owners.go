package store

import (
	"bytes"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

func ownerKey(ownerID, tokenID string) []byte { return []byte(ownerID + "\x00" + tokenID) }

// initOwnerIndex builds the owner index of a database written before it
// was kept (one scan, once).
func initOwnerIndex(btx *bolt.Tx) error {
	return initIndex(btx, bucketOwnerTokens, (*gatepassv1.Token).GetOwnerId)
}

// initIndex creates an index bucket keyed by of(token), NUL, token id, and
// fills it from every stored token, unless it exists. Tokens for which of
// is empty are not indexed.
func initIndex(btx *bolt.Tx, bucket []byte, of func(*gatepassv1.Token) string) error {
	if _, err := btx.CreateBucket(bucket); err == bolt.ErrBucketExists {
		return nil
	} else if err != nil {
		return err
	}
	idx := btx.Bucket(bucket)
	return btx.Bucket(bucketTokens).ForEach(func(_, v []byte) error {
		st := &gatepassv1.TokenState{}
		if err := proto.Unmarshal(v, st); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		if key := of(st.GetToken()); key != "" {
			return idx.Put(ownerKey(key, st.GetToken().GetId()), nil)
		}
		return nil
	})
}

// indexOwner moves a token's owner index entry from old (nil: new token).
func (tx *Tx) indexOwner(old, st *gatepassv1.TokenState) error {
	idx := tx.btx.Bucket(bucketOwnerTokens)
	t := st.GetToken()
	if old != nil && old.GetToken().GetOwnerId() != t.GetOwnerId() {
		if err := idx.Delete(ownerKey(old.GetToken().GetOwnerId(), t.GetId())); err != nil {
			return err
		}
	}
	return idx.Put(ownerKey(t.GetOwnerId(), t.GetId()), nil)
}

// initProjectIndex builds the project index of a database written before
// it was kept (one scan, once).
func initProjectIndex(btx *bolt.Tx) error {
	return initIndex(btx, bucketProjectTokens, (*gatepassv1.Token).GetProjectId)
}

// indexProject moves a token's project index entry from old (nil: new
// token); workspace tokens have none.
func (tx *Tx) indexProject(old, st *gatepassv1.TokenState) error {
	idx := tx.btx.Bucket(bucketProjectTokens)
	t := st.GetToken()
	if p := old.GetToken().GetProjectId(); p != "" && p != t.GetProjectId() {
		if err := idx.Delete(ownerKey(p, t.GetId())); err != nil {
			return err
		}
	}
	if t.GetProjectId() == "" {
		return nil
	}
	return idx.Put(ownerKey(t.GetProjectId(), t.GetId()), nil)
}

// TokensOf returns the tokens a member owns, in id order: O(log n + k).
func (tx *Tx) TokensOf(ownerID string) ([]*gatepassv1.TokenState, error) {
	prefix := []byte(ownerID + "\x00")
	var out []*gatepassv1.TokenState
	c := tx.btx.Bucket(bucketOwnerTokens).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		st, err := tx.Token(string(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
