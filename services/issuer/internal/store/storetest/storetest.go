// Package storetest opens a real issuer store for tests: bbolt in the
// test's temporary directory, a fresh signing key, closed when the test
// ends.
package storetest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

// Open returns a new store on the clock now, and its event signer.
func Open(t testing.TB, now func() time.Time) (*store.Store, *event.Signer) {
	t.Helper()
	seed, err := event.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := event.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "issuer.db"), signer, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, signer
}
