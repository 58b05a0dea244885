package store

import (
	"bytes"
	"errors"
	"fmt"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Token returns a token's stored state.
func (tx *Tx) Token(id string) (*gatepassv1.TokenState, error) {
	return get(tx, bucketTokens, id, &gatepassv1.TokenState{})
}

// TokenByDigest finds a token by the SHA-256 of its secret.
func (tx *Tx) TokenByDigest(d token.Digest) (*gatepassv1.TokenState, error) {
	id, ok := tx.s.secrets.get(d)
	if !ok {
		return nil, fmt.Errorf("token %w", ErrNotFound)
	}
	st, err := tx.Token(id)
	if err != nil {
		return nil, err
	}
	if !d.Equal(st.GetSecretSha256()) {
		return nil, fmt.Errorf("token %w", ErrNotFound)
	}
	return st, nil
}

// indexSecret records a token's secret digest by its id and queues the
// secret index's change, if the token is new or its digest changed (the
// index changes once the transaction commits).
func (tx *Tx) indexSecret(old, st *gatepassv1.TokenState) error {
	if bytes.Equal(old.GetSecretSha256(), st.GetSecretSha256()) || len(st.GetSecretSha256()) != len(token.Digest{}) {
		return nil
	}
	b := tx.btx.Bucket(bucketTokenSecrets)
	if old == nil {
		b = tx.appending(bucketTokenSecrets) // ids grow with creation time
	}
	if err := b.Put([]byte(st.GetToken().GetId()), st.GetSecretSha256()); err != nil {
		return err
	}
	c := secretChange{next: token.Digest(st.GetSecretSha256()), id: st.GetToken().GetId()}
	if len(old.GetSecretSha256()) == len(token.Digest{}) {
		c.old, c.hasOld = token.Digest(old.GetSecretSha256()), true
	}
	tx.secrets = append(tx.secrets, c)
	return nil
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
	if old == nil {
		tx.appending(bucketTokens) // ids grow with creation time
	}
	if err := put(tx, bucketTokens, t.GetId(), st); err != nil {
		return "", err
	}
	if err := tx.updateDigest(old, st); err != nil {
		return "", err
	}
	if err := tx.indexSecret(old, st); err != nil {
		return "", err
	}
	// An index entry is written only when it changes: a write rewrites
	// its page and the pages above it even when the bytes are the same,
	// and a revoke used to rewrite every index this way.
	if err := tx.reindex(bucketWSTokens, old.GetToken().GetWorkspaceId(), t.GetWorkspaceId(), t.GetId()); err != nil {
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
