package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/natsconn"
	"github.com/gatepass/gatepass/pkg/telemetry"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/extauthz"
	"github.com/gatepass/gatepass/services/validator/internal/follow"
	"github.com/gatepass/gatepass/services/validator/internal/gate"
	"github.com/gatepass/gatepass/services/validator/internal/httpcheck"
	"github.com/gatepass/gatepass/services/validator/internal/rpc"
	"github.com/gatepass/gatepass/services/validator/internal/usage"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
)

func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := telemetry.NewLogger(stderr, level)
	verifier, err := event.NewVerifier(cfg.IssuerPublicKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.CachePath), 0o700); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	c, err := cache.OpenOrRebuild(cfg.CachePath, log)
	if err != nil {
		return err
	}
	defer c.Close()
	reportKey, err := event.LoadOrCreateSigner(cfg.KeyFile)
	if err != nil {
		return err
	}

	metrics, err := telemetry.NewMetrics(cfg.Telemetry.MetricsListen)
	if err != nil {
		return err
	}
	if cfg.Telemetry.Pprof {
		metrics.EnablePprof()
	}
	defer metrics.Shutdown(context.Background())
	tracing, err := telemetry.NewTracing(ctx, "gatepass-validator", cfg.Telemetry.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.Background())
	meter := metrics.Provider().Meter("gatepass/validator")
	validations, err := meter.Int64Counter("gatepass_validations", metric.WithDescription("ValidateToken answers by reason."))
	if err != nil {
		return err
	}

	srv, err := grpcserver.New(grpcserver.Options{
		Meter: metrics.Provider(), Tracer: tracing.Provider, Propagator: tracing.Propagator,
		HotPath: true, Tracing: tracing.On,
		Addr: cfg.ListenAddr, Logger: log, Validate: rpc.Validate, Reflection: cfg.Reflection,
		TLSCertFile: cfg.TLS.CertFile, TLSKeyFile: cfg.TLS.KeyFile,
	})
	if err != nil {
		return err
	}
	id := cfg.ID
	if id == "" {
		host, _ := os.Hostname()
		id = host + "/" + srv.Addr()
	}
	log = log.With("validator_id", id)

	natsOpts := cfg.NATS
	natsOpts.Name = "gatepass-validator " + id
	nc, err := natsconn.Connect(natsOpts)
	if err != nil {
		return err
	}
	defer natsconn.Drain(nc, 5*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	f := follow.New(c, verifier, follow.Options{
		ID: id, Staleness: cfg.Staleness, ServeStaleFor: cfg.ServeStaleFor, MaxClockSkew: cfg.MaxClockSkew, ReportInterval: cfg.ReportInterval,
		Seal: reportKey.SealReport, Logger: log, Now: time.Now,
	})
	recorder := usage.NewRecorder(time.Now)
	rpcServer := &rpc.Server{
		Store: c, Format: token.Format{Prefix: cfg.TokenPrefix}, Current: f.Current, Now: time.Now, Logger: log,
		Validations: validations, Usage: recorder,
	}
	gatepassv1.RegisterValidatorServiceServer(srv.GRPC(), rpcServer)
	rules, _ := gate.LoadRules(cfg.GatewayRulesFile) // checked by Validate
	proxies, _ := gate.ParseProxies(cfg.TrustedProxies)
	g := &gate.Gate{Decide: rpcServer.Decide, Current: f.Current, Rules: rules, Logger: log, Validations: validations}
	authv3.RegisterAuthorizationServer(srv.GRPC(), &extauthz.Server{Gate: g, KeepAuthorization: cfg.KeepAuthorization, Logger: log})
	checkSrv, err := newCheckServer(cfg, g, proxies, f, log)
	if err != nil {
		return err
	}
	if err := f.RegisterMetrics(meter); err != nil {
		return err
	}
	srv.SetServing("", false)
	srv.SetServing(gatepassv1.ValidatorService_ServiceDesc.ServiceName, false)

	if a := metrics.Addr(); a != "" {
		log.Info("serving metrics", "addr", "http://"+a+"/metrics")
	}
	actors := []grpcserver.Actor{
		func(ctx context.Context) error {
			if err := f.Run(ctx, nc, js); err != nil {
				return fmt.Errorf("token stream follower: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error { healthLoop(ctx, srv, f); return nil },
		func(ctx context.Context) error { tuneGC(ctx); return nil },
		func(ctx context.Context) error {
			recorder.Run(ctx, id, cfg.UsageInterval, func(r *gatepassv1.UsageReport) error {
				data, err := reportKey.SealReport(r)
				if err != nil {
					return err
				}
				return nc.Publish(event.UsageSubject, data)
			}, log)
			return nil
		},
		func(ctx context.Context) error {
			if err := metrics.Serve(ctx); err != nil {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		},
	}
	if checkSrv != nil {
		actors = append(actors, func(ctx context.Context) error {
			if err := checkSrv.Serve(ctx); err != nil {
				return fmt.Errorf("HTTP check server: %w", err)
			}
			return nil
		})
		fmt.Fprintf(stdout, "GATEPASS_CHECK_ADDR=%s\n", checkSrv.Addr())
	}
	// The issuer believes reports signed by keys in its GATEPASS_VALIDATOR_KEYS.
	fmt.Fprintf(stdout, "GATEPASS_VALIDATOR_PUBLIC_KEY=%s\n", reportKey.PublicKey())
	// GATEPASS_VALIDATOR_ADDR comes last: once it is printed, everything is up.
	fmt.Fprintf(stdout, "GATEPASS_VALIDATOR_ADDR=%s\n", srv.Addr())
	log.Info("validator serving", "addr", srv.Addr())
	defer log.Info("validator stopped")
	// A follower or listener that stops for good ends the process
	// (non-zero), so the orchestrator restarts it.
	return srv.ServeWith(ctx, actors...)
}

// healthLoop mirrors the follower's currency into grpc.health.v1, so load
// balancers route around a validator that is catching up or stale.
func healthLoop(ctx context.Context, srv *grpcserver.Server, f *follow.Follower) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := -1
	for {
		serving := 0
		if f.Serving() {
			serving = 1
		}
		if serving != last {
			srv.SetServing("", serving == 1)
			srv.SetServing(gatepassv1.ValidatorService_ServiceDesc.ServiceName, serving == 1)
			last = serving
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// newCheckServer binds the HTTP check listener for nginx, Caddy and
// Traefik, when one is configured (nil otherwise).
func newCheckServer(cfg Config, g *gate.Gate, proxies gate.Proxies, f *follow.Follower, log *slog.Logger) (*httpcheck.Server, error) {
	if cfg.CheckListen == "" {
		return nil, nil
	}
	style, _ := httpcheck.ParseStyle(cfg.CheckStyle) // checked by Validate
	checkSrv, err := httpcheck.New(cfg.CheckListen, g, style, proxies, f.Serving, log)
	if err != nil {
		return nil, err
	}
	checkSrv.Detail = func() string {
		if f.ClockSkewed() {
			return "warning: the issuer's clock is ahead of this one by more than max-clock-skew; heartbeats are ignored"
		}
		return ""
	}
	return checkSrv, nil
}
