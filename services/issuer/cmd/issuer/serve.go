package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatepass/gatepass/pkg/config"
	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/natsembed"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/telemetry"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/notify"
	"github.com/gatepass/gatepass/services/issuer/internal/publish"
	"github.com/gatepass/gatepass/services/issuer/internal/rpc"
	"github.com/gatepass/gatepass/services/issuer/internal/scanning"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/gatepass/gatepass/services/issuer/internal/usage"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"
)

func initData(cfg Config, stdout, stderr io.Writer) error {
	st, signer, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	life := &lifecycle.Service{Store: st, Format: token.Format{Prefix: cfg.TokenPrefix}, Now: time.Now}
	secret, err := life.Bootstrap(bootstrapOptions(cfg))
	if errors.Is(err, store.ErrBootstrapped) {
		return errors.New("init: the data directory is already initialized; refusing to run twice")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "initialized workspace %q; the owner token below is shown only this once\n", cfg.BootstrapWorkspace)
	fmt.Fprintf(stdout, "GATEPASS_ISSUER_PUBLIC_KEY=%s\nGATEPASS_TOKEN=%s\n", signer.PublicKey(), secret)
	return nil
}

func bootstrapOptions(cfg Config) lifecycle.Bootstrap {
	return lifecycle.Bootstrap{
		Workspace: cfg.BootstrapWorkspace, Owner: cfg.BootstrapOwner, Email: cfg.BootstrapEmail, TokenTTL: cfg.BootstrapTokenTTL,
	}
}

// openStore creates the data directory and signing key if needed and opens
// the database.
func openStore(cfg Config) (*store.Store, *event.Signer, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	signer, err := event.LoadOrCreateSigner(cfg.SigningKeyFile)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "issuer.db"), signer, time.Now)
	if err != nil {
		return nil, nil, err
	}
	return st, signer, nil
}

func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	if err := cfg.checkServe(); err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	log := telemetry.NewLogger(stderr, level)
	metrics, err := telemetry.NewMetrics(cfg.Telemetry.MetricsListen)
	if err != nil {
		return err
	}
	if cfg.Telemetry.Pprof {
		metrics.EnablePprof()
	}
	defer metrics.Shutdown(context.Background())
	stages, err := newStages(metrics.Provider().Meter("gatepass/issuer"))
	if err != nil {
		return err
	}
	st, signer, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	st.ObserveCommits(stages.onCommit)
	format := token.Format{Prefix: cfg.TokenPrefix}
	var bootSecret string
	if cfg.Bootstrap {
		life := &lifecycle.Service{Store: st, Format: format, Now: time.Now}
		bootSecret, err = life.Bootstrap(bootstrapOptions(cfg))
		if err != nil && !errors.Is(err, store.ErrBootstrapped) {
			return err
		}
	}
	conn, err := connectNATS(cfg, log)
	if err != nil {
		return err
	}
	defer conn.close()
	keyList := config.List(cfg.ValidatorKeys)
	bounds, err := st.ValidatorBounds()
	if err != nil {
		return err
	}
	tracker := propagation.NewTracker(propagation.TrackerOptions{
		Keys: keyList, Liveness: cfg.ValidatorLiveness, MaxBound: cfg.MaxAnswerBound, MaxSkew: cfg.MaxClockSkew,
		Bounds: bounds,
		OnBound: func(key string, bound time.Duration) {
			if err := st.PutValidatorBound(key, bound); err != nil {
				log.Error("keep a validator's answer bound", "signer", key, "error", err)
			}
		},
	}, time.Now())
	// Reports missed while disconnected: development mode's tracker waits a
	// liveness window again before completing anything.
	conn.nc.SetDisconnectErrHandler(func(*nats.Conn, error) { tracker.Blind(time.Now()) })
	conn.nc.SetReconnectHandler(func(*nats.Conn) { tracker.Blind(time.Now()) })
	pub, err := publish.New(st, conn.nc, conn.js, signer, publish.Options{
		Replicas: cfg.StreamReplicas, Heartbeat: cfg.HeartbeatInterval, Halt: failpointHaltPublish(cfg),
		Logger: log, Now: time.Now, OnStep: stages.onStep,
	})
	if err != nil {
		return err
	}
	deliverer := &notify.Deliverer{
		Store: st, Publish: conn.nc.Publish, Now: time.Now, Logger: log,
		RetryBase: cfg.WebhookRetryBase, RetryWindow: cfg.WebhookRetryWindow,
	}
	life := &lifecycle.Service{Store: st, Format: format, Now: time.Now, Logger: log,
		Notify: func() { pub.Notify(); deliverer.Notify() }}
	ingester := &usage.Ingester{Store: st, Now: time.Now, Canary: life.AttemptNotice}
	unsubscribe, err := subscribe(conn.nc, keyList, tracker, pub, ingester, life.Notify, log)
	if err != nil {
		return err
	}
	defer unsubscribe()
	deps := &rpc.Deps{
		Lifecycle: life, Store: st, Publisher: pub, Tracker: tracker, Format: format, Now: time.Now,
		PropagationTimeout: cfg.PropagationTimeout, Logger: log, OnReceipt: stages.onReceipt,
	}
	return serveRPC(ctx, cfg, deps, deliverer, metrics, log, func(addr, scanAddr string) {
		if scanAddr != "" {
			fmt.Fprintf(stdout, "GATEPASS_SECRET_SCANNING_ADDR=%s\n", scanAddr)
		}
		// GATEPASS_ISSUER_ADDR comes last: once it is printed, everything is up.
		if bootSecret != "" {
			fmt.Fprintf(stdout, "GATEPASS_TOKEN=%s\n", bootSecret)
		}
		if conn.validatorPasswordFile != "" {
			// What validators connect to the embedded NATS with (a file
			// name, not the password).
			fmt.Fprintf(stdout, "GATEPASS_NATS_USER=%s\nGATEPASS_NATS_PASSWORD_FILE=%s\n", natsembed.ValidatorUser("").Name, conn.validatorPasswordFile)
		}
		fmt.Fprintf(stdout, "GATEPASS_NATS_URL=%s\nGATEPASS_ISSUER_PUBLIC_KEY=%s\nGATEPASS_ISSUER_ADDR=%s\n", conn.url, signer.PublicKey(), addr)
	})
}

// serveRPC serves the issuer's services, with the publisher, the notice
// deliverer, the schedules, attempt pruning and the metrics server as
// background actors, until ctx
// ends or an actor fails. ready receives the addresses once all is up.
func serveRPC(ctx context.Context, cfg Config, deps *rpc.Deps, deliverer *notify.Deliverer, metrics *telemetry.Metrics, log *slog.Logger, ready func(addr, scanAddr string)) error {
	tracing, err := telemetry.NewTracing(ctx, "gatepass-issuer", cfg.Telemetry.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.Background())
	if err := registerMetrics(metrics.Provider().Meter("gatepass/issuer"), deps.Tracker); err != nil {
		return err
	}
	auth := &rpc.Authenticator{Store: deps.Store, Format: deps.Format, Now: time.Now}
	rules, err := rpc.Rules(time.Now)
	if err != nil {
		return err
	}
	srv, err := grpcserver.New(grpcserver.Options{
		Addr: cfg.ListenAddr, Logger: log, Auth: auth.Authenticate, Meter: metrics.Provider(), Tracer: tracing.Provider, Propagator: tracing.Propagator,
		Validate: rules, Reflection: cfg.Reflection,
		TLSCertFile: cfg.TLS.CertFile, TLSKeyFile: cfg.TLS.KeyFile,
	})
	if err != nil {
		return err
	}
	gatepassv1.RegisterIssuerServiceServer(srv.GRPC(), &rpc.Issuer{Deps: deps})
	gatepassv1.RegisterWorkspaceServiceServer(srv.GRPC(), &rpc.Workspace{Deps: deps})
	srv.SetServing("", true)
	srv.SetServing(gatepassv1.IssuerService_ServiceDesc.ServiceName, true)
	srv.SetServing(gatepassv1.WorkspaceService_ServiceDesc.ServiceName, true)
	if a := metrics.Addr(); a != "" {
		log.Info("serving metrics", "addr", "http://"+a+"/metrics")
	}
	scan, scanAddr, err := secretScanning(cfg, deps, log)
	if err != nil {
		return err
	}
	actors := background(cfg, deps, deliverer, metrics, log)
	if scan != nil {
		actors = append(actors, scan)
		log.Info("serving secret scanning reports", "addr", "http://"+scanAddr+scanning.Path)
	}
	ready(srv.Addr(), scanAddr)
	log.Info("issuer serving", "addr", srv.Addr())
	defer log.Info("issuer stopped")
	return srv.ServeWith(ctx, actors...)
}

// registerMetrics publishes the number of live validators.
func registerMetrics(m metric.Meter, t *propagation.Tracker) error {
	_, err := m.Int64ObservableGauge("gatepass_issuer_validators_live",
		metric.WithDescription("Validators that reported within the liveness window and are serving."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(t.Live(time.Now())))
			return nil
		}))
	return err
}

// loadOrCreatePassword reads a password file, creating it (mode 0600,
// 256 random bits) when missing.
func loadOrCreatePassword(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("NATS password: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	password := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("NATS password: %w", err)
	}
	return password, nil
}
