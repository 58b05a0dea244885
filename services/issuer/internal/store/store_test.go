package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
)

func openStore(t testing.TB, path string) (*Store, *event.Verifier) {
	t.Helper()
	seed, err := event.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := event.NewSigner(seed)
	s, err := Open(path, signer, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	v, _ := event.NewVerifier(signer.PublicKey())
	return s, v
}

func newState(t testing.TB) (*gatepassv1.TokenState, token.Digest) {
	sec, err := token.Format{}.Mint()
	if err != nil {
		t.Fatal(err)
	}
	d := sec.Digest()
	return &gatepassv1.TokenState{
		Token:        &gatepassv1.Token{Id: NewID("tok", time.Now()), WorkspaceId: "ws_1", Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE},
		SecretSha256: d[:],
	}, d
}

// TestChangeAndEventCommitTogether: a token change and its outbox event are
// one transaction; a failed transaction leaves neither.
func TestChangeAndEventCommitTogether(t *testing.T) {
	t.Parallel()
	s, v := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	st, d := newState(t)
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.PutToken(st); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if out, _ := changeLane(t, s); len(out) != 0 {
		t.Fatalf("failed transaction left %d outbox entries", len(out))
	}
	_ = s.View(func(tx *Tx) error {
		if _, err := tx.TokenByDigest(d); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failed transaction left the token: %v", err)
		}
		return nil
	})

	st.Token.Version = 0
	var id string
	if err := s.Update(func(tx *Tx) (err error) { id, err = tx.PutToken(st); return err }); err != nil {
		t.Fatal(err)
	}
	out, err := changeLane(t, s)
	if err != nil || len(out) != 1 {
		t.Fatalf("outbox = %v, %v", out, err)
	}
	ev, err := v.Open(out[0].Data)
	if err != nil {
		t.Fatalf("outbox event does not verify: %v", err)
	}
	if out[0].EventID != id || ev.GetId() != id || out[0].Subject != event.TokenSubject(st.GetToken().GetId()) {
		t.Fatalf("outbox entry %+v does not match event %s", out[0], id)
	}
	if got := ev.GetToken().GetToken().GetVersion(); got != 1 {
		t.Fatalf("event version = %d, want 1", got)
	}
	if err := s.Delete(propagation.LaneChange, [][]byte{out[0].Key}); err != nil {
		t.Fatal(err)
	}
	if out, _ := changeLane(t, s); len(out) != 0 {
		t.Fatal("published entry not deleted")
	}
}

// reopen closes s and opens the database at path again.
func reopen(t testing.TB, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = openStore(t, path)
	return s
}

func TestOutboxSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "issuer.db")
	s, _ := openStore(t, path)
	for range 3 {
		st, _ := newState(t)
		if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s, path)
	out, err := changeLane(t, s)
	if err != nil || len(out) != 3 {
		t.Fatalf("outbox after reopen: %d entries, %v", len(out), err)
	}
	for i := 1; i < len(out); i++ {
		if string(out[i-1].Key) >= string(out[i].Key) {
			t.Fatal("outbox is not in commit order")
		}
	}
}

func TestRequeueOnlyWhenStale(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, filepath.Join(t.TempDir(), "issuer.db"))
	st, _ := newState(t)
	id := st.GetToken().GetId()
	for range 2 {
		if err := s.Update(func(tx *Tx) error { _, err := tx.PutToken(st); return err }); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		kind, id string
		seen     uint64
		want     bool
	}{
		{"token", id, 2, false},
		{"token", id, 1, true},
		{"token", id, 1 << 63, true},
		{"token", "tok_unknown", 1, false},
		{"other", id, 1, false},
	}
	for _, tt := range tests {
		var got bool
		if err := s.Update(func(tx *Tx) (err error) { got, err = tx.Requeue(tt.kind, tt.id, tt.seen); return err }); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("Requeue(%s, %s, %d) = %v, want %v", tt.kind, tt.id, tt.seen, got, tt.want)
		}
	}
}

// changeLane returns the change lane's pending entries.
func changeLane(t testing.TB, s *Store) ([]OutboxEntry, error) {
	t.Helper()
	snap, err := s.Snapshot(10)
	return snap.Change, err
}
