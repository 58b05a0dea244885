package main

import (
	"os"
	"slices"
	"testing"
)

// TestStateCarriesOverToTheNextRun: what a run with -data saves, the next
// one reads; an admin token the issuer printed (a first run) wins, and
// without -data nothing is written.
func TestStateCarriesOverToTheNextRun(t *testing.T) {
	dir := t.TempDir()
	cfg := config{data: dir, dir: dir}
	first := &system{cfg: cfg, admin: "gp_admin", secrets: []string{"gp_a", "gp_b"}, ids: []string{"tok_a", "tok_b"}, created: 2}
	if err := first.saveState(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(statePath(cfg)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	next := &system{cfg: cfg}
	if err := next.loadState(); err != nil {
		t.Fatal(err)
	}
	if next.admin != "gp_admin" || next.created != 2 || !slices.Equal(next.secrets, first.secrets) || !slices.Equal(next.ids, first.ids) {
		t.Fatalf("read back %+v", next)
	}
	printed := &system{cfg: cfg, admin: "gp_new"}
	if err := printed.loadState(); err != nil || printed.admin != "gp_new" {
		t.Fatalf("admin %q, %v: the token the issuer printed must win", printed.admin, err)
	}
	other := t.TempDir()
	none := &system{cfg: config{dir: other}, admin: "gp_admin"}
	if err := none.saveState(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(statePath(none.cfg)); !os.IsNotExist(err) {
		t.Fatalf("state written without -data: %v", err)
	}
}
