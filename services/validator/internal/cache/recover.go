package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// OpenOrRebuild opens the cache at path; when it cannot be opened or fails
// its checks, the file is moved aside (path.corrupt-<unix time>) and a
// fresh cache is created, which the follower rebuilds from the stream. A
// cache locked by another process is an error, not corruption.
func OpenOrRebuild(path string, log *slog.Logger, opts ...Options) (*Cache, error) {
	c, err := Open(path, opts...)
	if err == nil || errors.Is(err, berrors.ErrTimeout) {
		return c, err
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; moving it aside: %v", err, rerr)
	}
	log.Error("cache unusable; moved aside, rebuilding from the token stream", "error", err, "moved_to", aside)
	return Open(path, opts...)
}
