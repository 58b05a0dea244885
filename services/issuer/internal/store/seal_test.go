package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"
)

// TestEventsOfATransactionAreSealedInOrder: the events of one
// transaction, signed together before its commit, each carry a valid
// signature over their own state, in log order.
func TestEventsOfATransactionAreSealedInOrder(t *testing.T) {
	t.Parallel()
	s, signer := storetest.Open(t, time.Now)
	v, err := event.NewVerifier(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	err = s.Update(func(tx *store.Tx) error {
		for i := range n {
			st := &gatepassv1.TokenState{Token: &gatepassv1.Token{Id: fmt.Sprintf("tok_%022d", i), Name: fmt.Sprint("name-", i)}, SecretSha256: make([]byte, 32)}
			if _, err := tx.PutToken(st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Change) != n {
		t.Fatalf("%d changes in the outbox, want %d", len(snap.Change), n)
	}
	for i, e := range snap.Change {
		ev, err := v.Open(e.Data)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		want := fmt.Sprintf("tok_%022d", i)
		if got := ev.GetToken().GetToken().GetId(); got != want || ev.GetId() != e.EventID || ev.GetLogIndex() != e.LogIndex {
			t.Fatalf("entry %d holds %s (event %s, index %d); want %s (event %s, index %d)", i, got, ev.GetId(), ev.GetLogIndex(), want, e.EventID, e.LogIndex)
		}
		if i > 0 && e.LogIndex <= snap.Change[i-1].LogIndex {
			t.Fatalf("entry %d out of log order", i)
		}
	}
}
