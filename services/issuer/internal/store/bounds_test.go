package store

import (
	"maps"
	"path/filepath"
	"testing"
	"time"
)

func TestValidatorBoundsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issuer.db")
	s, _ := openStore(t, path)
	for _, kb := range []struct {
		key   string
		bound time.Duration
	}{{"VA", time.Minute}, {"VB", 9 * time.Second}, {"VC", time.Hour}, {"VC", 0}} {
		if err := s.PutValidatorBound(kb.key, kb.bound); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = openStore(t, path)
	got, err := s.ValidatorBounds()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]time.Duration{"VA": time.Minute, "VB": 9 * time.Second}; !maps.Equal(got, want) {
		t.Fatalf("bounds after reopening: %v, want %v", got, want)
	}
}
