package store

import (
	"fmt"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	bolt "go.etcd.io/bbolt"
)

// TestStatusChangeRewritesOnlyWhatChanges: disabling, enabling and
// revoking a token leave the indexes whose entries they do not change
// untouched. bbolt writes a page again whenever a key on it is put, even
// with the same bytes, and a new copy of a bucket gets a new root page, so
// an index whose root stayed put was not written. A revoke used to
// rewrite all five (the secret digests' index is in memory since).
func TestStatusChangeRewritesOnlyWhatChanges(t *testing.T) {
	t.Parallel()
	s := openTestStoreAt(t, time.Now)
	state := func(i int) *gatepassv1.TokenState {
		return &gatepassv1.TokenState{Token: &gatepassv1.Token{
			Id: fmt.Sprintf("tok_%05d", i), WorkspaceId: "ws", ProjectId: "prj", OwnerId: "usr",
			Name: fmt.Sprintf("runner-%d", i), Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
		}, SecretSha256: []byte(fmt.Sprintf("%032d", i))}
	}
	fillTokens(t, s, 500, state)
	indexes := [][]byte{bucketWSTokens, bucketOwnerTokens, bucketProjectTokens, bucketLiveNames}
	roots := func() map[string]uint64 {
		out := map[string]uint64{}
		if err := s.db.View(func(btx *bolt.Tx) error {
			for _, b := range indexes {
				out[string(b)] = uint64(btx.Bucket(b).Root())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, step := range []struct {
		status  gatepassv1.TokenStatus
		changed string // the one index whose entry changes, if any
	}{
		{gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED, ""},
		{gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, ""},
		{gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED, string(bucketLiveNames)},
	} {
		before := roots()
		st := state(250)
		st.Token.Status = step.status
		if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
		for name, root := range roots() {
			if rewritten := root != before[name]; rewritten != (name == step.changed) {
				t.Errorf("to %s: index %s rewritten %v", step.status, name, rewritten)
			}
		}
	}
	if err := s.View(func(tx *Tx) error {
		if id := tx.LiveTokenNamed("ws", "runner-250"); id != "" {
			return fmt.Errorf("revoked token still holds its name (%s)", id)
		}
		if id := tx.LiveTokenNamed("ws", "runner-249"); id != "tok_00249" {
			return fmt.Errorf("live name of tok_00249 lost: %q", id)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestGrowingBucketsFillTheirPages: buckets whose keys only grow (tokens
// by id, audit records and outbox entries by sequence, the workspace and
// owner indexes per range) keep their pages nearly full as they grow;
// with bbolt's default split they stayed half empty.
func TestGrowingBucketsFillTheirPages(t *testing.T) {
	t.Parallel()
	s := openTestStoreAt(t, time.Now)
	const n = 6000
	for i := 0; i < n; i += 500 {
		err := s.Update(func(tx *Tx) error {
			for j := i; j < i+500; j++ {
				st := &gatepassv1.TokenState{Token: &gatepassv1.Token{
					Id: fmt.Sprintf("tok_%06d", j), WorkspaceId: "ws", OwnerId: fmt.Sprintf("usr_%d", j%3),
					Name: fmt.Sprintf("runner-%d", j), Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
				}, SecretSha256: []byte(fmt.Sprintf("%032d", j))}
				if _, err := tx.PutToken(st); err != nil {
					return err
				}
				if err := tx.Audit(&gatepassv1.AuditEvent{WorkspaceId: "ws", Action: "token.created", TargetId: st.GetToken().GetId()}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.View(func(btx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTokens, bucketTokenSecrets, bucketAudit, bucketOutbox, bucketOutboxAudit, bucketWSTokens, bucketOwnerTokens} {
			st := btx.Bucket(name).Stats()
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
				t.Errorf("%s: pages %.0f%% full (%d leaf pages), want 80%% or more", name, 100*fill, st.LeafPageN)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
