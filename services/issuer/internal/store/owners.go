package store

import (
	"errors"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"
)

// indexKey is a key of the workspace, owner and project indexes: what the
// token is listed under, NUL, the token id (so a prefix lists in id order).
func indexKey(of, tokenID string) []byte { return []byte(of + "\x00" + tokenID) }

// initOwnerIndex builds the owner index of a database written before it
// was kept (one scan, once).
func initOwnerIndex(btx *bolt.Tx) error {
	return initIndex(btx, bucketOwnerTokens, (*gatepassv1.Token).GetOwnerId)
}

// initIndex creates an index bucket keyed by of(token), NUL, token id, and
// fills it from every stored token, unless it exists. Tokens for which of
// is empty are not indexed.
func initIndex(btx *bolt.Tx, bucket []byte, of func(*gatepassv1.Token) string) error {
	if _, err := btx.CreateBucket(bucket); errors.Is(err, berrors.ErrBucketExists) {
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
			return idx.Put(indexKey(key, st.GetToken().GetId()), nil)
		}
		return nil
	})
}

// indexOwner moves a token's owner index entry from old (nil: new token).
func (tx *Tx) indexOwner(old, st *gatepassv1.TokenState) error {
	return tx.reindex(bucketOwnerTokens, old.GetToken().GetOwnerId(), st.GetToken().GetOwnerId(), st.GetToken().GetId())
}

// reindex moves token id's entry in an index from key old to key next;
// "" is no entry (a new token, a workspace token in the project index).
func (tx *Tx) reindex(bucket []byte, old, next, id string) error {
	idx := tx.btx.Bucket(bucket)
	if old != "" && old != next {
		if err := idx.Delete(indexKey(old, id)); err != nil {
			return err
		}
	}
	if next == "" || old == next {
		return nil // none, or there already
	}
	if old == "" {
		idx.FillPercent = seqFill // no entry before: mostly a new token, the newest id of its range
	}
	return idx.Put(indexKey(next, id), nil)
}

// initProjectIndex builds the project index of a database written before
// it was kept (one scan, once).
func initProjectIndex(btx *bolt.Tx) error {
	return initIndex(btx, bucketProjectTokens, (*gatepassv1.Token).GetProjectId)
}

// indexProject moves a token's project index entry from old (nil: new
// token); workspace tokens have none.
func (tx *Tx) indexProject(old, st *gatepassv1.TokenState) error {
	return tx.reindex(bucketProjectTokens, old.GetToken().GetProjectId(), st.GetToken().GetProjectId(), st.GetToken().GetId())
}

// TokensOf returns the tokens a member owns, in id order: O(log n + k).
func (tx *Tx) TokensOf(ownerID string) ([]*gatepassv1.TokenState, error) {
	var out []*gatepassv1.TokenState
	err := tx.scanIndex(bucketOwnerTokens, ownerID, "", func(st *gatepassv1.TokenState) bool {
		out = append(out, st)
		return true
	})
	return out, err
}
