package cache

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	bolt "go.etcd.io/bbolt"
)

// TestUnusableCacheIsMovedAsideAndRebuilt: a cache file that is not bbolt,
// or of another schema, is moved aside and a fresh cache opens in its
// place (the first version exited and stayed down).
func TestUnusableCacheIsMovedAsideAndRebuilt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			c, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}},
		{"other schema", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucketIfNotExists(bucketMeta)
				return b.Put(keySchema, binary.BigEndian.AppendUint64(nil, 1))
			})
			db.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "v.db")
			tt.write(t, path)
			if _, err := Open(path); err == nil {
				t.Fatal("Open accepted an unusable cache")
			}
			c, err := OpenOrRebuild(path, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("OpenOrRebuild: %v", err)
			}
			defer c.Close()
			if pos, err := c.Position(); err != nil || pos.Sequence != 0 || !pos.StreamCreated.IsZero() {
				t.Fatalf("fresh cache at %+v, %v", pos, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
		})
	}
}

// TestCheckpointsVerifyTheCache: an active token is accepted only once a
// checkpoint that covers it matched the cache; a checkpoint that does not
// match is reported.
func TestCheckpointsVerifyTheCache(t *testing.T) {
	t.Parallel()
	c := openCache(t, filepath.Join(t.TempDir(), "c.db"))
	var d token.Digest
	d[0] = 3
	s1 := state(d, 1, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE)
	if _, err := c.Apply([]Item{{Sequence: 1, LogIndex: 4, Token: s1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(d); !errors.Is(err, ErrUnverified) {
		t.Fatalf("before any checkpoint: %v", err)
	}
	var want propagation.Digest
	want.Replace(nil, s1)
	res, err := c.Apply([]Item{{Sequence: 2, Checkpoint: &gatepassv1.Checkpoint{LogIndex: 4, Tokens: 1, Digest: want[:]}}})
	if err != nil || res.Mismatch != nil || res.Verified != 4 {
		t.Fatalf("matching checkpoint: %+v, %v", res, err)
	}
	if _, err := c.Lookup(d); err != nil {
		t.Fatalf("after a matching checkpoint: %v", err)
	}
	res, err = c.Apply([]Item{{Sequence: 3, Checkpoint: &gatepassv1.Checkpoint{LogIndex: 9, Tokens: 2, Digest: want[:]}}})
	if err != nil || res.Mismatch.GetLogIndex() != 9 {
		t.Fatalf("checkpoint with another state: %+v, %v", res, err)
	}
	if err := c.Wipe(c.mustPosition(t).StreamCreated); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a wipe: %v", err)
	}
}

func (c *Cache) mustPosition(t *testing.T) Position {
	t.Helper()
	p, err := c.Position()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
