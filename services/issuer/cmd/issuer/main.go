// Command issuer runs the gatepass issuer: the only writer of token state,
// serving gatepass.v1.IssuerService and WorkspaceService over gRPC and
// publishing signed events to NATS JetStream.
//
//	issuer [serve] [flags]   run the server (embeds NATS when no URL is set)
//	issuer init [flags]      bootstrap the first workspace and owner token
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "issuer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "init") {
		cmd, args = args[0], args[1:]
	}
	cfg, err := loadConfig("issuer "+cmd, args, getenv, stderr)
	if err != nil {
		return err
	}
	if cmd == "init" {
		return initData(cfg, stdout, stderr)
	}
	return serve(ctx, cfg, stdout, stderr)
}
