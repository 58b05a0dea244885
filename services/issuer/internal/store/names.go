package store

import (
	"errors"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"
)

// bucketLiveNames indexes live tokens (not revoked, not replaced) by
// workspace and normalized name, so a name check is one lookup instead of
// a scan of the workspace.
var bucketLiveNames = []byte("live_names")

func nameKey(t *gatepassv1.Token) []byte {
	return []byte(t.GetWorkspaceId() + "\x00" + policy.Normalize(t.GetName()))
}

// live reports whether a token's name is taken by it.
func live(t *gatepassv1.Token) bool {
	return t.GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED && t.GetReplacedByTokenId() == ""
}

// initNameIndex builds the name index of a database written before it was
// kept (one scan, once).
func initNameIndex(btx *bolt.Tx) error {
	if _, err := btx.CreateBucket(bucketLiveNames); errors.Is(err, berrors.ErrBucketExists) {
		return nil
	} else if err != nil {
		return err
	}
	idx := btx.Bucket(bucketLiveNames)
	return btx.Bucket(bucketTokens).ForEach(func(_, v []byte) error {
		st := &gatepassv1.TokenState{}
		if err := proto.Unmarshal(v, st); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		if live(st.GetToken()) {
			return idx.Put(nameKey(st.GetToken()), []byte(st.GetToken().GetId()))
		}
		return nil
	})
}

// indexName moves a token's live-name entry from old (nil: a new token).
// An entry is removed only if it still points at this token: a rotation
// stores the replacement, under the same name, before retiring the old one.
func (tx *Tx) indexName(old, st *gatepassv1.TokenState) error {
	idx := tx.btx.Bucket(bucketLiveNames)
	t := st.GetToken()
	if old != nil && live(old.GetToken()) {
		k := nameKey(old.GetToken())
		if string(idx.Get(k)) == t.GetId() && (!live(t) || string(k) != string(nameKey(t))) {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
	}
	if !live(t) {
		return nil
	}
	k := nameKey(t)
	if string(idx.Get(k)) == t.GetId() {
		return nil // there already: a write would rewrite its pages
	}
	return idx.Put(k, []byte(t.GetId()))
}

// LiveTokenNamed returns the id of the live token of a workspace whose
// name normalizes like name, or "".
func (tx *Tx) LiveTokenNamed(workspaceID, name string) string {
	return string(tx.btx.Bucket(bucketLiveNames).Get([]byte(workspaceID + "\x00" + policy.Normalize(name))))
}
