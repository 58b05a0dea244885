package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/gatepass/gatepass/pkg/config"
	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/natsconn"
	"github.com/gatepass/gatepass/pkg/token"
)

// Config is everything the issuer reads at start.
type Config struct {
	// ListenAddr is the gRPC address. Default 127.0.0.1:7401.
	ListenAddr string
	// DataDir holds issuer.db, the signing key and embedded NATS storage.
	// Default ./data.
	DataDir string
	// NATS says how to reach the NATS cluster; an empty URL embeds a NATS
	// JetStream server.
	NATS natsconn.Options
	// TLS is the gRPC server certificate; empty serves plaintext.
	TLS config.TLS
	// EmbeddedNATSAddr is where the embedded server listens. Default 127.0.0.1:7422.
	EmbeddedNATSAddr string
	// SigningKeyFile holds the Ed25519 nkeys seed that signs events; created
	// with mode 0600 when missing. Default <DataDir>/issuer.nk.
	SigningKeyFile string
	// TokenPrefix starts every secret. Default "gp".
	TokenPrefix string
	// PropagationTimeout bounds how long a change waits for validators.
	// Keep it above the validators' staleness bound, so a validator cut off
	// from NATS resolves as refusing within the wait. Default 7s.
	PropagationTimeout time.Duration
	// HeartbeatInterval between signed heartbeats. Default 1s.
	HeartbeatInterval time.Duration
	// ValidatorLiveness: a validator silent for longer is not live. Default 5s.
	ValidatorLiveness time.Duration
	// ValidatorKeys are the validators' report-signing public keys
	// (comma-separated, each printed by a validator at start), one key
	// per validator. Empty is refused unless Development is set.
	ValidatorKeys string
	// Development believes any validator report, signed or not, when no
	// ValidatorKeys are set. Never in production. Default false.
	Development bool
	// MaxAnswerBound is the longest answer bound (staleness plus
	// serve-stale) a validator may report; reports above it are dropped, and
	// a validator the issuer has not heard from is assumed to have it.
	// Keep PropagationTimeout above it. Default 5s.
	MaxAnswerBound time.Duration
	// MaxClockSkew bounds the difference between the issuer's clock and any
	// validator's; reports dated further off than the liveness window plus
	// this are dropped. Default 1s.
	MaxClockSkew time.Duration
	// StreamReplicas of the token stream (3 in production). Default 1.
	StreamReplicas int
	// Reflection registers gRPC server reflection. Default true.
	Reflection bool
	// Bootstrap creates a workspace and owner token on first start, and
	// prints the secret once. Default false.
	Bootstrap bool
	// BootstrapWorkspace, BootstrapOwner, BootstrapEmail name what init creates.
	BootstrapWorkspace, BootstrapOwner, BootstrapEmail string
	// BootstrapTokenTTL is the owner token's lifetime; 0 never expires. Default 2160h (90 days).
	BootstrapTokenTTL time.Duration
	// Telemetry: Prometheus /metrics and OTLP traces, both off by default.
	Telemetry config.Telemetry
	// LogLevel: debug, info, warn or error. Default info.
	LogLevel string
	// AttemptRetention is how long token.attempt audit records (refused
	// uses reported by validators) are kept; lifecycle records are kept for
	// good. 0 keeps everything. Default 2160h (90 days).
	AttemptRetention time.Duration
	// WebhookRetryBase is the delay before a failed webhook delivery's
	// first retry (default 5s); each retry doubles it, up to an hour.
	WebhookRetryBase time.Duration
	// WebhookRetryWindow is how long a delivery is retried (default 26h).
	WebhookRetryWindow time.Duration
	// SecretScanningListen is the address of the secret scanning partner
	// endpoint (empty: off); SecretScanningKeys the file of GitHub's
	// verification keys it needs.
	SecretScanningListen, SecretScanningKeys string
	// ReviewDigestInterval is how often each workspace gets its
	// review.digest notice (default a week; 0: never).
	ReviewDigestInterval time.Duration
	// NoticeRetention is how long notices and finished deliveries are
	// kept (default 30 days).
	NoticeRetention time.Duration
	// PolicyInterval is how often the workspaces' lifecycle policies
	// (disable unused, revoke disabled) run (default 1h; also at start).
	PolicyInterval time.Duration
	// FailpointHaltPublish stops the outbox publisher: for crash tests
	// only, and a flag only in a build with -tags failpoints.
	FailpointHaltPublish bool
}

func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	l := config.NewLoader(name, getenv, stderr)
	l.String(&c.ListenAddr, "listen", "GATEPASS_ISSUER_LISTEN", "127.0.0.1:7401", "gRPC listen address")
	l.String(&c.DataDir, "data-dir", "GATEPASS_DATA_DIR", "data", "data directory")
	c.NATS.Bind(l, "")
	l.TLS(&c.TLS)
	l.String(&c.EmbeddedNATSAddr, "embedded-nats-listen", "GATEPASS_EMBEDDED_NATS_LISTEN", "127.0.0.1:7422", "embedded NATS listen address")
	l.String(&c.SigningKeyFile, "signing-key-file", "GATEPASS_SIGNING_KEY_FILE", "", "Ed25519 nkeys seed file (default <data-dir>/issuer.nk)")
	l.String(&c.TokenPrefix, "token-prefix", "GATEPASS_TOKEN_PREFIX", token.DefaultPrefix, "token secret prefix")
	l.Duration(&c.PropagationTimeout, "propagation-timeout", "GATEPASS_PROPAGATION_TIMEOUT", 7*time.Second, "how long changes wait for validators (keep above the validators' staleness)")
	l.Duration(&c.HeartbeatInterval, "heartbeat-interval", "GATEPASS_HEARTBEAT_INTERVAL", time.Second, "interval between heartbeats")
	l.Duration(&c.ValidatorLiveness, "validator-liveness", "GATEPASS_VALIDATOR_LIVENESS", 5*time.Second, "silence after which a validator is not live")
	l.String(&c.ValidatorKeys, "validator-keys", "GATEPASS_VALIDATOR_KEYS", "", "validators' report-signing public keys, comma-separated, one per validator")
	l.Bool(&c.Development, "development", "GATEPASS_DEVELOPMENT", false, "development only: believe unsigned validator reports when no validator keys are set")
	l.Duration(&c.MaxAnswerBound, "max-answer-bound", "GATEPASS_MAX_ANSWER_BOUND", 5*time.Second, "longest validator answer bound (staleness + serve-stale) accepted")
	l.Duration(&c.MaxClockSkew, "max-clock-skew", "GATEPASS_MAX_CLOCK_SKEW", time.Second, "bound on the clock difference between the issuer and any validator")
	l.Int(&c.StreamReplicas, "stream-replicas", "GATEPASS_STREAM_REPLICAS", 1, "JetStream replicas of the token stream")
	l.Bool(&c.Reflection, "reflection", "GATEPASS_REFLECTION", true, "register gRPC server reflection")
	l.Bool(&c.Bootstrap, "bootstrap", "GATEPASS_BOOTSTRAP", false, "bootstrap a workspace on first start")
	l.String(&c.BootstrapWorkspace, "workspace", "GATEPASS_BOOTSTRAP_WORKSPACE", "default", "name of the bootstrapped workspace")
	l.String(&c.BootstrapOwner, "owner", "GATEPASS_BOOTSTRAP_OWNER", "owner", "display name of the bootstrapped owner")
	l.String(&c.BootstrapEmail, "owner-email", "GATEPASS_BOOTSTRAP_EMAIL", "", "email of the bootstrapped owner")
	l.Duration(&c.BootstrapTokenTTL, "token-ttl", "GATEPASS_BOOTSTRAP_TOKEN_TTL", 90*24*time.Hour, "lifetime of the bootstrap owner token; 0 never expires")
	l.Telemetry(&c.Telemetry)
	l.String(&c.LogLevel, "log-level", "GATEPASS_LOG_LEVEL", "info", "debug, info, warn or error")
	l.Duration(&c.WebhookRetryBase, "webhook-retry-base", "GATEPASS_WEBHOOK_RETRY_BASE", 5*time.Second, "delay before a failed webhook delivery's first retry; each retry doubles it, up to an hour")
	l.Duration(&c.WebhookRetryWindow, "webhook-retry-window", "GATEPASS_WEBHOOK_RETRY_WINDOW", 26*time.Hour, "how long a webhook delivery is retried before it is marked failed")
	l.String(&c.SecretScanningListen, "secret-scanning-listen", "GATEPASS_SECRET_SCANNING_LISTEN", "", "address of the secret scanning partner endpoint (empty: off)")
	l.String(&c.SecretScanningKeys, "secret-scanning-keys", "GATEPASS_SECRET_SCANNING_KEYS", "", "file of the scanner's ECDSA verification keys, in GitHub's key-list JSON")
	l.Duration(&c.ReviewDigestInterval, "review-digest-interval", "GATEPASS_REVIEW_DIGEST_INTERVAL", 7*24*time.Hour, "how often each workspace gets its review.digest notice (0: never)")
	l.Duration(&c.NoticeRetention, "notice-retention", "GATEPASS_NOTICE_RETENTION", 30*24*time.Hour, "how long notices and finished webhook deliveries are kept")
	l.Duration(&c.PolicyInterval, "policy-interval", "GATEPASS_POLICY_INTERVAL", time.Hour, "how often lifecycle policies (disable unused, revoke disabled tokens) run; also at start")
	l.Duration(&c.AttemptRetention, "attempt-retention", "GATEPASS_ATTEMPT_RETENTION", 90*24*time.Hour, "how long refused-attempt audit records are kept (0: for good)")
	bindFailpoints(l, &c)
	if err := l.Parse(args); err != nil {
		return c, err
	}
	if c.SigningKeyFile == "" {
		c.SigningKeyFile = filepath.Join(c.DataDir, "issuer.nk")
	}
	return c, c.Validate()
}

// Validate checks the configuration before anything starts.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Telemetry.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.NATS.URL == "" {
		if _, _, err := net.SplitHostPort(c.EmbeddedNATSAddr); err != nil {
			errs = append(errs, fmt.Errorf("embedded-nats-listen: %w", err))
		}
	}
	if c.SecretScanningListen != "" && c.SecretScanningKeys == "" {
		errs = append(errs, errors.New("secret-scanning-keys is required with secret-scanning-listen"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is required"))
	}
	if err := token.ValidatePrefix(c.TokenPrefix); err != nil {
		errs = append(errs, err)
	}
	for name, d := range map[string]time.Duration{
		"propagation-timeout": c.PropagationTimeout, "heartbeat-interval": c.HeartbeatInterval, "validator-liveness": c.ValidatorLiveness,
		"max-answer-bound": c.MaxAnswerBound, "max-clock-skew": c.MaxClockSkew,
		"webhook-retry-base": c.WebhookRetryBase, "webhook-retry-window": c.WebhookRetryWindow, "policy-interval": c.PolicyInterval, "notice-retention": c.NoticeRetention,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if c.PropagationTimeout <= c.MaxAnswerBound {
		errs = append(errs, errors.New("propagation-timeout must be above max-answer-bound, so a silent validator resolves within the wait"))
	}
	if _, err := event.ParseReportKeys(config.List(c.ValidatorKeys)); err != nil {
		errs = append(errs, err)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, errors.New("stream-replicas must be 1 to 5"))
	}
	if c.AttemptRetention < 0 {
		errs = append(errs, errors.New("attempt-retention must not be negative"))
	}
	if c.BootstrapTokenTTL < 0 {
		errs = append(errs, errors.New("token-ttl must not be negative"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log-level: %w", err)
	}
	return l, nil
}

// errNoValidatorKeys is returned by serve when no validator keys are set
// outside development mode.
var errNoValidatorKeys = errors.New("validator-keys is required to serve (or -development, which believes any validator report)")

// checkServe checks what serving needs beyond Validate: a production
// issuer believes only its validators' keys.
func (c Config) checkServe() error {
	if len(config.List(c.ValidatorKeys)) == 0 && !c.Development {
		return errNoValidatorKeys
	}
	return nil
}
