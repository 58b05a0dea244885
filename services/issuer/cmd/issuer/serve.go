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
	"sync"
	"time"

	"github.com/gatepass/gatepass/pkg/config"
	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/natsconn"
	"github.com/gatepass/gatepass/pkg/natsembed"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/telemetry"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/publish"
	"github.com/gatepass/gatepass/services/issuer/internal/rpc"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/gatepass/gatepass/services/issuer/internal/usage"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	st, signer, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	format := token.Format{Prefix: cfg.TokenPrefix}

	var bootSecret string
	if cfg.Bootstrap {
		life := &lifecycle.Service{Store: st, Format: format, Now: time.Now}
		bootSecret, err = life.Bootstrap(bootstrapOptions(cfg))
		if err != nil && !errors.Is(err, store.ErrBootstrapped) {
			return err
		}
	}

	natsOpts := cfg.NATS
	natsOpts.Name = "gatepass-issuer"
	validatorPasswordFile := ""
	if natsOpts.URL == "" {
		// The embedded server requires credentials: the issuer's own, and
		// the validators', which only let them read the stream and report.
		issuerPassword, err := loadOrCreatePassword(filepath.Join(cfg.DataDir, "nats-issuer.pass"))
		if err != nil {
			return err
		}
		validatorPasswordFile = filepath.Join(cfg.DataDir, "nats-validator.pass")
		validatorPassword, err := loadOrCreatePassword(validatorPasswordFile)
		if err != nil {
			return err
		}
		ns, err := natsembed.Start(natsembed.Options{
			Addr: cfg.EmbeddedNATSAddr, StoreDir: filepath.Join(cfg.DataDir, "nats"),
			Users: []natsembed.User{natsembed.IssuerUser(issuerPassword), natsembed.ValidatorUser(validatorPassword)},
		})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		natsOpts.URL = ns.ClientURL()
		natsOpts.User, natsOpts.Password, natsOpts.PasswordFile = natsembed.IssuerUser("").Name, issuerPassword, ""
		log.Info("embedded NATS JetStream started", "url", natsOpts.URL)
	}
	nc, err := natsconn.Connect(natsOpts)
	if err != nil {
		return err
	}
	defer natsconn.Drain(nc, 5*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}

	keyList := config.List(cfg.ValidatorKeys)
	keys, _ := event.ParseReportKeys(keyList) // checked by Validate
	if len(keys) == 0 {
		log.Warn("development mode: validator reports are not authenticated; set GATEPASS_VALIDATOR_KEYS in production")
	}
	dropped := newDropLog(log)
	tracker := propagation.NewTracker(propagation.TrackerOptions{
		Keys: keyList, Liveness: cfg.ValidatorLiveness, MaxBound: cfg.MaxAnswerBound, MaxSkew: cfg.MaxClockSkew,
	}, time.Now())
	// Reports missed while disconnected: development mode's tracker waits a
	// liveness window again before completing anything.
	nc.SetDisconnectErrHandler(func(*nats.Conn, error) { tracker.Blind(time.Now()) })
	nc.SetReconnectHandler(func(*nats.Conn) { tracker.Blind(time.Now()) })
	pub, err := publish.New(st, nc, js, signer, publish.Options{
		Replicas: cfg.StreamReplicas, Heartbeat: cfg.HeartbeatInterval, Halt: cfg.FailpointHaltPublish,
		Logger: log, Now: time.Now,
	})
	if err != nil {
		return err
	}
	sub, err := nc.Subscribe(event.ReportSubject, func(m *nats.Msg) {
		var r gatepassv1.ValidatorReport
		signer, err := keys.OpenReport(m.Data, &r)
		if err == nil {
			err = tracker.Report(signer, &r, time.Now())
		}
		if err != nil {
			dropped.note("validator report", signer, err)
			return
		}
		if cp := r.GetDistrustedCheckpoint(); cp > 0 {
			if _, err := pub.RepairAll(cp); err != nil {
				log.Error("republish every state", "error", err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to validator reports: %w", err)
	}
	defer sub.Unsubscribe()

	ingester := &usage.Ingester{Store: st, Now: time.Now}
	usageSub, err := nc.Subscribe(event.UsageSubject, func(m *nats.Msg) {
		var r gatepassv1.UsageReport
		if signer, err := keys.OpenReport(m.Data, &r); err != nil {
			dropped.note("usage report", signer, err)
			return
		}
		if err := ingester.Ingest(&r); err != nil {
			log.Error("ingest usage report", "validator_id", r.GetValidatorId(), "error", err)
			return
		}
		pub.Notify() // attempts went to the audit trail
	})
	if err != nil {
		return fmt.Errorf("subscribe to usage reports: %w", err)
	}
	defer usageSub.Unsubscribe()
	guard, err := publish.Guard(nc, pub, log)
	if err != nil {
		return err
	}
	defer guard.Unsubscribe()
	life := &lifecycle.Service{Store: st, Format: format, Now: time.Now, Notify: pub.Notify, Logger: log}
	deps := &rpc.Deps{
		Lifecycle: life, Store: st, Publisher: pub, Tracker: tracker, Format: format, Now: time.Now,
		PropagationTimeout: cfg.PropagationTimeout, Logger: log,
	}
	metrics, err := telemetry.NewMetrics(cfg.Telemetry.MetricsListen)
	if err != nil {
		return err
	}
	if cfg.Telemetry.Pprof {
		metrics.EnablePprof()
	}
	defer metrics.Shutdown(context.Background())
	tracing, err := telemetry.NewTracing(ctx, "gatepass-issuer", cfg.Telemetry.OTLPEndpoint)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(context.Background())
	if err := registerMetrics(metrics.Provider().Meter("gatepass/issuer"), tracker); err != nil {
		return err
	}
	auth := &rpc.Authenticator{Store: st, Format: format, Now: time.Now}
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
	issuer := &rpc.Issuer{Deps: deps}
	gatepassv1.RegisterIssuerServiceServer(srv.GRPC(), issuer)
	gatepassv1.RegisterWorkspaceServiceServer(srv.GRPC(), &rpc.Workspace{Deps: deps})
	srv.SetServing("", true)
	srv.SetServing(gatepassv1.IssuerService_ServiceDesc.ServiceName, true)
	srv.SetServing(gatepassv1.WorkspaceService_ServiceDesc.ServiceName, true)

	pctx, stopPublisher := context.WithCancel(context.Background())
	// A background server that stops for good leaves the issuer unable to
	// do its job: end the process (non-zero) so the orchestrator restarts it.
	ctx, fatal := context.WithCancelCause(ctx)
	defer fatal(nil)
	var wg sync.WaitGroup
	wg.Go(func() { pub.Run(pctx) })
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		life.RunSchedules(pctx, tick.C)
	})
	if cfg.AttemptRetention > 0 {
		wg.Go(func() { pruneAttempts(pctx, st, cfg.AttemptRetention, log) })
	}
	wg.Go(func() {
		if err := metrics.Serve(pctx); err != nil {
			log.Error("metrics server stopped", "error", err)
			fatal(fmt.Errorf("metrics server: %w", err))
		}
	})
	if a := metrics.Addr(); a != "" {
		log.Info("serving metrics", "addr", "http://"+a+"/metrics")
	}
	defer func() { stopPublisher(); wg.Wait() }()

	// GATEPASS_ISSUER_ADDR comes last: once it is printed, everything is up.
	if bootSecret != "" {
		fmt.Fprintf(stdout, "GATEPASS_TOKEN=%s\n", bootSecret)
	}
	if validatorPasswordFile != "" {
		// What validators connect to the embedded NATS with (a file name,
		// not the password).
		fmt.Fprintf(stdout, "GATEPASS_NATS_USER=%s\nGATEPASS_NATS_PASSWORD_FILE=%s\n", natsembed.ValidatorUser("").Name, validatorPasswordFile)
	}
	fmt.Fprintf(stdout, "GATEPASS_NATS_URL=%s\nGATEPASS_ISSUER_PUBLIC_KEY=%s\nGATEPASS_ISSUER_ADDR=%s\n", natsOpts.URL, signer.PublicKey(), srv.Addr())
	log.Info("issuer serving", "addr", srv.Addr())
	err = srv.Serve(ctx)
	log.Info("issuer stopping")
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return err
}

// dropLog logs a dropped report once per kind, signer and reason, so a
// misconfigured validator does not flood the log.
type dropLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

func newDropLog(log *slog.Logger) *dropLog { return &dropLog{log: log, seen: map[string]bool{}} }

func (d *dropLog) note(kind, signer string, err error) {
	key := kind + "|" + signer + "|" + err.Error()
	d.mu.Lock()
	first := !d.seen[key] && len(d.seen) < 1000
	if first {
		d.seen[key] = true
	}
	d.mu.Unlock()
	if first {
		d.log.Warn("dropping "+kind+"s (logged once)", "signer", signer, "error", err)
	}
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

// pruneAttempts deletes token.attempt audit records older than retention,
// every minute, a bounded batch per transaction. Lifecycle records stay.
func pruneAttempts(ctx context.Context, st *store.Store, retention time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	failures := propagation.NewRepeatLog(log, time.Hour)
	for {
		for more := true; more && ctx.Err() == nil; {
			var n int
			var err error
			n, more, err = st.PruneAudit("token.attempt", time.Now().Add(-retention), 10000)
			if err != nil {
				failures.Warn("prune attempt records", err)
				break
			}
			if n > 0 {
				log.Info("pruned attempt records past their retention", "deleted", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
