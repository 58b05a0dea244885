package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatepass/gatepass/services/validator/internal/introspect"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/gctune"
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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
)

// parts are what a running validator is made of, so serve can be read as
// open, build, serve.
type parts struct {
	cfg       Config
	id        string
	log       *slog.Logger
	cache     *cache.Cache
	reportKey *event.Signer
	srv       *grpcserver.Server
	follower  *follow.Follower
	recorder  *usage.Recorder
	check     *httpcheck.Server
	metrics   *telemetry.Metrics
	nc        *nats.Conn
	js        jetstream.JetStream
}

func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	p := &parts{cfg: cfg, log: telemetry.NewLogger(stderr, level)}
	verifier, err := event.NewVerifier(cfg.IssuerPublicKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.CachePath), 0o700); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	if p.cache, err = cache.OpenOrRebuild(cfg.CachePath, p.log); err != nil {
		return err
	}
	defer p.cache.Close()
	if p.reportKey, err = event.LoadOrCreateSigner(cfg.KeyFile); err != nil {
		return err
	}
	if p.metrics, err = telemetry.NewMetrics(cfg.Telemetry.MetricsListen); err != nil {
		return err
	}
	if cfg.Telemetry.Pprof {
		p.metrics.EnablePprof()
	}
	defer p.metrics.Shutdown(context.Background())
	tracing, err := telemetry.NewTracing(ctx, "gatepass-validator", cfg.Telemetry.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.Background())
	err = p.build(tracing, verifier)
	if p.nc != nil {
		defer natsconn.Drain(p.nc, 5*time.Second)
	}
	if err != nil {
		return err
	}
	if p.check != nil {
		fmt.Fprintf(stdout, "GATEPASS_CHECK_ADDR=%s\n", p.check.Addr())
	}
	// The issuer believes reports signed by keys in its GATEPASS_VALIDATOR_KEYS.
	fmt.Fprintf(stdout, "GATEPASS_VALIDATOR_PUBLIC_KEY=%s\n", p.reportKey.PublicKey())
	// GATEPASS_VALIDATOR_ADDR comes last: once it is printed, everything is up.
	fmt.Fprintf(stdout, "GATEPASS_VALIDATOR_ADDR=%s\n", p.srv.Addr())
	p.log.Info("validator serving", "addr", p.srv.Addr())
	defer p.log.Info("validator stopped")
	// A follower or listener that stops for good ends the process
	// (non-zero), so the orchestrator restarts it.
	return p.srv.ServeWith(ctx, p.actors()...)
}

// build binds the gRPC server, connects to NATS, and wires the follower,
// the decision services (ValidateToken, ext_authz, /check) and metrics.
func (p *parts) build(tracing *telemetry.Tracing, verifier *event.Verifier) error {
	cfg := p.cfg
	meter := p.metrics.Provider().Meter("gatepass/validator")
	validations, err := meter.Int64Counter("gatepass_validations", metric.WithDescription("ValidateToken answers by reason."))
	if err != nil {
		return err
	}
	p.srv, err = grpcserver.New(grpcserver.Options{
		Meter: p.metrics.Provider(), Tracer: tracing.Provider, Propagator: tracing.Propagator,
		HotPath: true, Tracing: tracing.On,
		Addr: cfg.ListenAddr, Logger: p.log, Validate: rpc.Validate, Reflection: cfg.Reflection,
		TLSCertFile: cfg.TLS.CertFile, TLSKeyFile: cfg.TLS.KeyFile,
	})
	if err != nil {
		return err
	}
	p.id = cfg.ID
	if p.id == "" {
		host, _ := os.Hostname()
		p.id = host + "/" + p.srv.Addr()
	}
	p.log = p.log.With("validator_id", p.id)
	natsOpts := cfg.NATS
	natsOpts.Name = "gatepass-validator " + p.id
	if p.nc, err = natsconn.Connect(natsOpts); err != nil {
		return err
	}
	if p.js, err = jetstream.New(p.nc); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	p.follower = follow.New(p.cache, verifier, follow.Options{
		ID: p.id, Staleness: cfg.Staleness, ServeStaleFor: cfg.ServeStaleFor, MaxClockSkew: cfg.MaxClockSkew, ReportInterval: cfg.ReportInterval,
		Seal: p.reportKey.SealReport, Logger: p.log, Now: time.Now,
	})
	p.recorder = usage.NewRecorder(time.Now)
	rpcServer := &rpc.Server{
		Store: p.cache, Format: token.Format{Prefix: cfg.TokenPrefix}, Current: p.follower.Current, Now: time.Now, Logger: p.log,
		Validations: validations, Usage: p.recorder,
	}
	gatepassv1.RegisterValidatorServiceServer(p.srv.GRPC(), rpcServer)
	rules, _ := gate.LoadRules(cfg.GatewayRulesFile) // checked by Validate
	proxies, _ := gate.ParseProxies(cfg.TrustedProxies)
	g := &gate.Gate{Decide: rpcServer.Decide, Current: p.follower.Current, Rules: rules, Logger: p.log, Validations: validations}
	authv3.RegisterAuthorizationServer(p.srv.GRPC(), &extauthz.Server{Gate: g, KeepAuthorization: cfg.KeepAuthorization, Logger: p.log})
	if p.check, err = newCheckServer(cfg, g, proxies, p.follower, p.log); err != nil {
		return err
	}
	if clients, _ := introspect.ParseClients(cfg.IntrospectionClients); len(clients) > 0 { // checked by Validate
		p.check.Introspect = &introspect.Handler{Decide: rpcServer.Decide, Current: p.follower.Current, Clients: clients, Logger: p.log}
	}
	p.srv.SetServing("", false)
	p.srv.SetServing(gatepassv1.ValidatorService_ServiceDesc.ServiceName, false)
	if a := p.metrics.Addr(); a != "" {
		p.log.Info("serving metrics", "addr", "http://"+a+"/metrics")
	}
	return p.follower.RegisterMetrics(meter)
}

// actors are the validator's background work: following the token stream,
// mirroring currency into health, GC tuning, usage reports, and the
// metrics and HTTP check listeners.
func (p *parts) actors() []grpcserver.Actor {
	actors := []grpcserver.Actor{
		func(ctx context.Context) error {
			if err := p.follower.Run(ctx, p.nc, p.js); err != nil {
				return fmt.Errorf("token stream follower: %w", err)
			}
			return nil
		},
		func(ctx context.Context) error { healthLoop(ctx, p.srv, p.follower); return nil },
		func(ctx context.Context) error { gctune.Run(ctx, 50); return nil },
		func(ctx context.Context) error {
			p.recorder.Run(ctx, p.id, p.cfg.UsageInterval, func(r *gatepassv1.UsageReport) error {
				data, err := p.reportKey.SealReport(r)
				if err != nil {
					return err
				}
				return p.nc.Publish(event.UsageSubject, data)
			}, p.log)
			return nil
		},
		func(ctx context.Context) error {
			if err := p.metrics.Serve(ctx); err != nil {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		},
	}
	if p.check != nil {
		actors = append(actors, func(ctx context.Context) error {
			if err := p.check.Serve(ctx); err != nil {
				return fmt.Errorf("HTTP check server: %w", err)
			}
			return nil
		})
	}
	return actors
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
