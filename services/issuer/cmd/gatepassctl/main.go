// Command gatepassctl administers gatepass through the issuer's RPCs:
// tokens (create, list, get, update, disable, enable, revoke, rotate),
// review, audit, projects, members and the workspace policy.
//
// It finds the issuer through GATEPASS_ISSUER_ADDR or --issuer, and reads
// its own credential from GATEPASS_TOKEN or --token-file, never from a
// flag, so it stays out of shell history. A created or rotated secret goes
// to stdout alone (or to --secret-file, mode 0600) so it can be piped into
// a secret store.
//
// Commands, help and shell completion come from cobra (root.go builds the
// tree from one table per command group). Flags are GNU style (--name);
// the single-dash spelling of the first version (-name) still works.
//
// Exit codes: 0 success, 1 request refused (invalid, not found, conflict,
// illegal state), 2 usage error, 3 authentication or permission failure,
// 4 server or network error, 5 a disable or revoke committed but not
// confirmed by every validator in time.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	exitAuth    = 3
	exitServer  = 4
	// exitUnconfirmed: the change is committed but its receipt is
	// incomplete (a disable or revoke not yet confirmed by every validator).
	exitUnconfirmed = 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.root()
	root.SetArgs(longFlags(root, args))
	code := exitOK
	c.done = func(n int) { code = n }
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "gatepassctl: %v\nRun 'gatepassctl --help' for usage.\n", err)
		return exitUsage
	}
	return code
}
