package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

func secretState(i int) *gatepassv1.TokenState {
	d := sha256.Sum256(fmt.Appendf(nil, "secret %d", i))
	return &gatepassv1.TokenState{Token: &gatepassv1.Token{
		Id: fmt.Sprintf("tok_%09d", i), WorkspaceId: "ws", OwnerId: "usr", Name: fmt.Sprintf("runner-%09d", i),
		Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, NeverExpires: true,
	}, SecretSha256: d[:]}
}

// findsToken reports which token, if any, the store finds by digest d.
func findsToken(t *testing.T, s *Store, d []byte) string {
	t.Helper()
	var id string
	if err := s.View(func(tx *Tx) error {
		st, err := tx.TokenByDigest(token.Digest(d))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		id = st.GetToken().GetId()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSecretIndexFollowsCommits: a token is found by its secret once its
// create commits, alone or in a group commit; a transaction that fails
// leaves nothing behind; a changed digest replaces the old one; and a
// reopened store finds every token (the index is rebuilt from the tokens).
func TestSecretIndexFollowsCommits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "issuer.db")
	s, _ := openStore(t, path)
	put := func(st *gatepassv1.TokenState) func(tx *Tx) error {
		return func(tx *Tx) error { _, err := tx.PutToken(proto.Clone(st).(*gatepassv1.TokenState)); return err }
	}
	if err := s.Update(put(secretState(0))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 8)
	for i := 1; i <= 8; i++ {
		go func() { done <- s.Batch(put(secretState(i))) }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	failed := errors.New("refused after the put")
	if err := s.Batch(func(tx *Tx) error {
		if err := put(secretState(9))(tx); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("failing transaction: %v", err)
	}
	changed := secretState(3)
	newSecret := sha256.Sum256([]byte("another secret"))
	changed.SecretSha256 = newSecret[:]
	if err := s.Update(put(changed)); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		for i := 0; i <= 9; i++ {
			want := fmt.Sprintf("tok_%09d", i)
			if i == 9 {
				want = "" // its transaction failed
			}
			if i == 3 {
				want = "" // its secret changed
			}
			if got := findsToken(t, s, secretState(i).SecretSha256); got != want {
				t.Errorf("%s: secret %d finds %q, want %q", when, i, got, want)
			}
		}
		if got := findsToken(t, s, newSecret[:]); got != "tok_000000003" {
			t.Errorf("%s: changed secret finds %q", when, got)
		}
	}
	check("running")
	s = reopen(t, s, path)
	check("reopened")
}

// TestOpenDropsTheDigestBucket: a database from before the secret index
// moved to memory loses its bucket of digests at open, gains the digests
// by token id (built from the token records), and every token is still
// found by its secret.
func TestOpenDropsTheDigestBucket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "issuer.db")
	s, _ := openStore(t, path)
	fillTokens(t, s, 100, secretState)
	if err := s.db.Update(func(btx *bolt.Tx) error { // as older issuers kept it
		if err := btx.DeleteBucket(bucketTokenSecrets); err != nil {
			return err
		}
		b, err := btx.CreateBucket(bucketDigests)
		if err != nil {
			return err
		}
		for i := range 100 {
			if err := b.Put(secretState(i).SecretSha256, fmt.Appendf(nil, "tok_%09d", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	if err := s.db.View(func(btx *bolt.Tx) error {
		if btx.Bucket(bucketDigests) != nil {
			return errors.New("bucket of digests still there")
		}
		if n := btx.Bucket(bucketTokenSecrets).Stats().KeyN; n != 100 {
			return fmt.Errorf("%d digests by token id, want 100", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 57, 99} {
		if got, want := findsToken(t, s, secretState(i).SecretSha256), fmt.Sprintf("tok_%09d", i); got != want {
			t.Errorf("secret %d finds %q, want %q", i, got, want)
		}
	}
}

// TestCreatesWriteNoPagePerSecret: a commit of creates writes about as
// many pages among 20k tokens as among a few: the secrets' digests are
// random, and in a bbolt index each new one landed on a page of its own
// (49 pages per commit of twenty here, instead of 25).
func TestCreatesWriteNoPagePerSecret(t *testing.T) {
	t.Parallel()
	s := openTestStoreAt(t, time.Now)
	const n, perCommit = 20000, 20
	fillTokens(t, s, n, secretState)
	before := pagesWritten(s)
	const commits = 5
	for c := range commits {
		if err := s.Update(func(tx *Tx) error {
			for i := range perCommit {
				if _, err := tx.PutToken(secretState(n + c*perCommit + i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	pages := (pagesWritten(s) - before) / commits
	t.Logf("%d pages per commit of %d creates among %d tokens", pages, perCommit, n)
	if pages > 35 {
		t.Errorf("%d pages per commit of %d creates, want at most 35", pages, perCommit)
	}
}

// FuzzSecretOf: the secret index reads a token record's digest as
// proto.Unmarshal does, whenever that decodes it (secretOf does not
// look inside the nested token, so it may read records proto refuses:
// the store writes them all itself).
func FuzzSecretOf(f *testing.F) {
	for _, i := range []int{0, 1} {
		b, _ := proto.Marshal(secretState(i))
		f.Add(b)
	}
	short, _ := proto.Marshal(&gatepassv1.TokenState{SecretSha256: []byte("short")})
	f.Add(short)
	f.Add([]byte{0x12, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok, err := secretOf(b)
		var st gatepassv1.TokenState
		if proto.Unmarshal(b, &st) != nil {
			return
		}
		if err != nil {
			t.Fatalf("secretOf: %v; proto.Unmarshal decodes it", err)
		}
		if want := len(st.GetSecretSha256()) == len(d); ok != want || (ok && string(d[:]) != string(st.GetSecretSha256())) {
			t.Fatalf("secretOf = %x, %v; proto has %x", d, ok, st.GetSecretSha256())
		}
	})
}
