package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// command is one subcommand: its words, and how it binds flags and runs.
type command = *spec

type spec struct {
	words []string
	// args is the number of positional arguments it takes.
	args int
	// flags binds the command's own flags and returns the action to run.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
}

// cli holds what every command shares.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	output         string
	issuer         gatepassv1.IssuerServiceClient
	workspace      gatepassv1.WorkspaceServiceClient
}

// usageError marks mistakes in how gatepassctl was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func (c *cli) exec(ctx context.Context, cmd command, args []string) int {
	fs := flag.NewFlagSet("gatepassctl "+strings.Join(cmd.words, " "), flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	issuerAddr := fs.String("issuer", envOr(c.getenv, "GATEPASS_ISSUER_ADDR", "127.0.0.1:7401"), "issuer address")
	tokenFile := fs.String("token-file", "", "file holding your gatepass token (default: env GATEPASS_TOKEN)")
	fs.StringVar(&c.output, "o", "table", "output format: table or json")
	caFile := fs.String("tls-ca", "", "CA certificate to verify the issuer (default plaintext)")
	insecurePlain := fs.Bool("insecure", false, "allow plaintext to an issuer that is not on loopback")
	timeout := fs.Duration("timeout", 30*time.Second, "per-call timeout")
	action := cmd.flags(fs)
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return exitUsage
	}
	if fs.NArg() != cmd.args {
		fmt.Fprintf(c.stderr, "gatepassctl %s: want %d argument(s), got %d\n", strings.Join(cmd.words, " "), cmd.args, fs.NArg())
		return exitUsage
	}
	if c.output != "table" && c.output != "json" {
		fmt.Fprintln(c.stderr, "gatepassctl: -o must be table or json")
		return exitUsage
	}
	secret, err := c.credential(*tokenFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitAuth
	}
	if *caFile == "" && !*insecurePlain && !loopback(*issuerAddr) {
		fmt.Fprintf(c.stderr, "gatepassctl: refusing to send a token in plaintext to %s; pass -tls-ca, or -insecure if you must\n", *issuerAddr)
		return exitUsage
	}
	conn, err := dial(*issuerAddr, *caFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitUsage
	}
	defer conn.Close()
	c.issuer = gatepassv1.NewIssuerServiceClient(conn)
	c.workspace = gatepassv1.NewWorkspaceServiceClient(conn)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret), *timeout)
	defer cancel()
	return c.report(action(ctx, c, fs.Args()))
}

// interleave moves flags that follow positional arguments to the front, so
// "token get ID -o json" works like "token get -o json ID".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// credential reads the caller's token from a file or GATEPASS_TOKEN.
func (c *cli) credential(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if t := strings.TrimSpace(c.getenv("GATEPASS_TOKEN")); t != "" {
		return t, nil
	}
	return "", errors.New("no credential: set GATEPASS_TOKEN or pass -token-file")
}

func dial(addr, caFile string) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no certificate in the CA file")
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("issuer address %q: %w", addr, err)
	}
	return conn, nil
}

// loopback reports whether an issuer address is on this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// report prints an error and maps it to an exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errUnconfirmed) {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitUnconfirmed
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitUsage
	}
	st, ok := status.FromError(err)
	if !ok {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitServer
	}
	fmt.Fprintf(c.stderr, "gatepassctl: %s: %s\n", st.Code(), st.Message())
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied:
		return exitAuth
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.OutOfRange:
		return exitRefused
	}
	return exitServer
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
