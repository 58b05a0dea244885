package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/httpserve"
	"github.com/gatepass/gatepass/services/issuer/internal/rpc"
	"github.com/gatepass/gatepass/services/issuer/internal/scanning"
)

// secretScanning binds the secret scanning partner endpoint when one is
// configured, and returns its actor and address ("" when off).
func secretScanning(cfg Config, deps *rpc.Deps, log *slog.Logger) (grpcserver.Actor, string, error) {
	if cfg.SecretScanningListen == "" {
		return nil, "", nil
	}
	keys, err := scanning.LoadKeys(cfg.SecretScanningKeys)
	if err != nil {
		return nil, "", err
	}
	lis, err := net.Listen("tcp", cfg.SecretScanningListen)
	if err != nil {
		return nil, "", fmt.Errorf("secret scanning listener: %w", err)
	}
	h := &scanning.Handler{
		Keys: keys, Report: deps.Lifecycle.ReportLeaks, Logger: log,
		Wait: func(ctx context.Context, id string) { deps.Propagate(ctx, id) },
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	return func(ctx context.Context) error { return httpserve.Serve(ctx, srv, lis, "secret scanning") }, lis.Addr().String(), nil
}
