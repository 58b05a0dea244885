// Command gatepassctl administers gatepass through the issuer's RPCs:
// tokens (create, list, get, update, disable, enable, revoke, rotate),
// review, audit, projects, members and the workspace policy.
//
// It finds the issuer through GATEPASS_ISSUER_ADDR or -issuer, and reads
// its own credential from GATEPASS_TOKEN or -token-file, never from a flag,
// so it stays out of shell history. A created or rotated secret goes to
// stdout alone (or to -secret-file, mode 0600) so it can be piped into a
// secret store.
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
	"strings"
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
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `gatepassctl administers gatepass.

Usage: gatepassctl [global flags] <command> [flags] [args]

Commands:
  token create   -name N -role R [-project P] [-expires-in D | -expire-time T | -never-expires]
                 [-description S] [-owner M] [-cidr C]... [-self-rotate] [-secret-file F]
  token list     [-project P] [-status S] [-owner M] [-page-size N] [-all]
  token get      ID
  token update   ID [-name N] [-description S] [-owner M]
  token disable  ID [-reason S]
  token enable   ID [-reason S]
  token revoke   ID [-reason S] [-cascade]
  token chain    ID            the rotation chain the token belongs to, oldest first
  token rotate   ID [-expires-in D | -expire-time T] [-disable-old-after D] [-revoke-old-after D]
                 [-name N] [-reason S] [-secret-file F]
  review         [-project P] [-min-severity low|medium|high]
  audit          [-target ID] [-actor TOKEN_ID] [-action A] [-since D] [-page-size N] [-all]
  project create NAME
  project list
  member add     -name N -role R [-email E]
  member list
  member update  ID -role R
  member remove  ID
  policy get
  policy set     [-default-lifetime D] [-max-lifetime D] [-forbid-never-expires=B] [-vague-names a,b]
                 [-vague-action reject|flag] [-keep-removed-members-tokens=B] [-expiring-within-days N]
                 [-unused-days N] [-disabled-days N] [-max-sources N]
  workspace get

Global flags (before or after the command):
  -issuer ADDR      issuer address (env GATEPASS_ISSUER_ADDR; default 127.0.0.1:7401)
  -token-file F     file holding your gatepass token (default: env GATEPASS_TOKEN)
  -o table|json     output format (default table)
  -tls-ca F         verify the issuer's TLS certificate with this CA (default plaintext)
  -insecure         allow plaintext to an issuer that is not on loopback
  -timeout D        per-call timeout (default 30s)

Exit codes: 0 ok, 1 request refused, 2 usage, 3 auth, 4 server or network,
5 committed but not confirmed by every validator in time (disable, revoke).
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd, rest, err := route(args)
	if err != nil {
		fmt.Fprintf(stderr, "gatepassctl: %v\n\n%s", err, usage)
		return exitUsage
	}
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	return c.exec(ctx, cmd, rest)
}

// route finds the command (one or two words) after any leading global
// flags, and returns the rest with those flags in front.
func route(args []string) (command, []string, error) {
	var globals []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
		n := 2 // every global flag but -insecure takes a value
		if strings.Contains(args[0], "=") || strings.TrimLeft(args[0], "-") == "insecure" {
			n = 1
		}
		n = min(n, len(args))
		globals, args = append(globals, args[:n]...), args[n:]
	}
	c, rest, err := routeCommand(args)
	return c, append(globals, rest...), err
}

func routeCommand(args []string) (command, []string, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		return nil, nil, fmt.Errorf("no command")
	}
	for _, c := range commands {
		n := len(c.words)
		if len(args) >= n && equal(args[:n], c.words) {
			return c, args[n:], nil
		}
	}
	return nil, nil, fmt.Errorf("unknown command %q", args[0])
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}
