// Command validator answers gatepass.v1.ValidatorService/ValidateToken from
// a local bbolt cache that it keeps current from the issuer's signed token
// stream on NATS JetStream. Run as many as needed; each has its own cache.
//
//	validator [flags]                 serve
//	validator key -key-file FILE      create (if needed) and print the key
//	                                  that signs this validator's reports,
//	                                  for the issuer's GATEPASS_VALIDATOR_KEYS
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatepass/gatepass/pkg/event"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "validator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "key" {
		return printKey(args[1:], stdout, stderr)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

func printKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validator key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("key-file", "", "seed file (created with mode 0600 when missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		return errors.New("usage: validator key -key-file FILE")
	}
	s, err := event.LoadOrCreateSigner(*file)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, s.PublicKey())
	return err
}
