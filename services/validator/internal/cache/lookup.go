package cache

import (
	"encoding/binary"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
)

// Lookup returns the cached token for a secret digest. An active token
// whose state came after the last matching checkpoint returns
// ErrUnverified.
func (c *Cache) Lookup(d token.Digest) (Entry, error) {
	e, verified, err := c.Entry(d)
	if err == nil && !verified && e.Status == gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		return Entry{}, ErrUnverified
	}
	return e, err
}

// Entry returns the cached token for a secret digest, and whether a
// matching checkpoint covers it.
func (c *Cache) Entry(d token.Digest) (Entry, bool, error) {
	e, ok := c.x.get(d)
	if !ok {
		return Entry{}, false, ErrNotFound
	}
	return e, e.LogIndex <= c.x.verified.Load(), nil
}

// Tokens returns the number of tokens held.
func (c *Cache) Tokens() int { return c.x.size() }

// ProjectWorkspace returns the workspace a project belongs to, and false
// for a project the cache does not hold.
func (c *Cache) ProjectWorkspace(projectID string) (string, bool) {
	return c.x.project(projectID)
}

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
