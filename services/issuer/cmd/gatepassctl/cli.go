package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/spf13/pflag"
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
	flags func(fs *pflag.FlagSet) action
}

// cli holds what every command shares: the global flags and, once
// connected, the issuer's clients.
type cli struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	output         string
	issuerAddr     string
	tokenFile      string
	caFile         string
	insecurePlain  bool
	timeout        time.Duration
	issuer         gatepassv1.IssuerServiceClient
	workspace      gatepassv1.WorkspaceServiceClient
	// done receives the exit code of the command that ran.
	done func(int)
}

// usageError marks mistakes in how gatepassctl was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exec connects to the issuer with the caller's credential, runs the
// action and returns its exit code.
func (c *cli) exec(ctx context.Context, run action, args []string) int {
	if c.output != "table" && c.output != "json" {
		fmt.Fprintln(c.stderr, "gatepassctl: -o must be table or json")
		return exitUsage
	}
	secret, err := c.credential(c.tokenFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitAuth
	}
	if c.caFile == "" && !c.insecurePlain && !loopback(c.issuerAddr) {
		fmt.Fprintf(c.stderr, "gatepassctl: refusing to send a token in plaintext to %s; pass --tls-ca, or --insecure if you must\n", c.issuerAddr)
		return exitUsage
	}
	conn, err := dial(c.issuerAddr, c.caFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "gatepassctl: %v\n", err)
		return exitUsage
	}
	defer conn.Close()
	c.issuer = gatepassv1.NewIssuerServiceClient(conn)
	c.workspace = gatepassv1.NewWorkspaceServiceClient(conn)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret), c.timeout)
	defer cancel()
	return c.report(run(ctx, c, args))
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
	return "", errors.New("no credential: set GATEPASS_TOKEN or pass --token-file")
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
