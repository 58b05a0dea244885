package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// state is what a later run with the same -data directory needs of this
// one: the admin token (printed once, at bootstrap), the secrets and ids
// kept for validation and revocation, and how many tokens exist. It holds
// secrets, so it is written for its owner only.
type state struct {
	Admin   string   `json:"admin"`
	Secrets []string `json:"secrets"`
	IDs     []string `json:"ids"`
	Created int      `json:"created"`
}

func statePath(cfg config) string { return filepath.Join(cfg.dir, "load-state.json") }

// loadState reads the state a run with this -data directory left; none
// (a first run, or no -data) is not an error.
func (s *system) loadState() error {
	if s.cfg.data == "" {
		return nil
	}
	b, err := os.ReadFile(statePath(s.cfg))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == "" { // bootstrapped by an earlier run
		s.admin = st.Admin
	}
	s.secrets, s.ids, s.created = st.Secrets, st.IDs, st.Created
	return nil
}

// saveState writes the state for a later run with this -data directory.
func (s *system) saveState() error {
	if s.cfg.data == "" {
		return nil
	}
	s.mu.Lock()
	b, err := json.Marshal(state{Admin: s.admin, Secrets: s.secrets, IDs: s.ids, Created: s.created})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(statePath(s.cfg), b, 0o600)
}
