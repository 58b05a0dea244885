package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gatepass/gatepass/services/validator/internal/introspect"

	"github.com/gatepass/gatepass/pkg/config"
	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/natsconn"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/gate"
	"github.com/gatepass/gatepass/services/validator/internal/httpcheck"
)

// Config is everything a validator reads at start.
type Config struct {
	// ListenAddr is the gRPC address. Default 127.0.0.1:7402.
	ListenAddr string
	// NATS says how to reach the NATS cluster. Default URL nats://127.0.0.1:7422.
	NATS natsconn.Options
	// TLS is the gRPC server certificate; empty serves plaintext.
	TLS config.TLS
	// IssuerPublicKey verifies event signatures (nkeys "N..." encoding).
	IssuerPublicKey string
	// IssuerPublicKeyFile is read when IssuerPublicKey is empty.
	IssuerPublicKeyFile string
	// CachePath is this validator's bbolt file. Default data/validator.db.
	CachePath string
	// KeyFile holds the nkeys seed that signs this validator's reports to
	// the issuer; created (0600) when missing. Default <cache>.nk.
	KeyFile string
	// ID names the validator in reports. Default <hostname>/<listen address>.
	ID string
	// Staleness: the longest the validator answers without confirming it
	// is current. Default 5s.
	Staleness time.Duration
	// ServeStaleFor keeps answering this long past Staleness when it cannot
	// confirm; 0 (default) fails closed with UNAVAILABLE.
	ServeStaleFor time.Duration
	// MaxClockSkew bounds the difference between this validator's clock and
	// the issuer's; a heartbeat dated further ahead confirms nothing (the
	// validator then relies on asking JetStream itself). Default 1s.
	MaxClockSkew time.Duration
	// ReportInterval between reports to the issuer. Default 1s.
	ReportInterval time.Duration
	// UsageInterval between usage reports to the issuer. Default 5s.
	UsageInterval time.Duration
	// TokenPrefix of secrets. Default "gp".
	TokenPrefix string
	// Reflection registers gRPC server reflection. Default true.
	Reflection bool
	// CheckListen serves the HTTP check endpoint for nginx, Caddy and
	// Traefik; empty disables it. Default 127.0.0.1:7403.
	CheckListen string
	// CheckStyle is the gateway in front of the HTTP check: nginx (reads
	// X-Original-Method and X-Original-URI) or caddy / traefik (read
	// X-Forwarded-Method and X-Forwarded-Uri). The other pair is ignored.
	// Default nginx.
	CheckStyle string
	// IntrospectionClients are the RFC 7662 introspection clients,
	// "id:secret,…" (secrets of 16 characters or more); empty: no
	// /introspect.
	IntrospectionClients string
	// TrustedProxies whose X-Forwarded-For the HTTP check believes
	// (comma-separated CIDRs). Default 127.0.0.1/32,::1/128.
	TrustedProxies string
	// GatewayRulesFile holds JSON rules mapping method and path prefix to
	// project and minimum role, for ext_authz and the HTTP check.
	GatewayRulesFile string
	// KeepAuthorization passes the authorization header upstream on
	// ext_authz allow. Default false.
	KeepAuthorization bool
	// Telemetry: Prometheus /metrics and OTLP traces, both off by default.
	Telemetry config.Telemetry
	// LogLevel: debug, info, warn or error. Default info.
	LogLevel string
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	l := config.NewLoader("validator", getenv, stderr)
	l.String(&c.ListenAddr, "listen", "GATEPASS_VALIDATOR_LISTEN", "127.0.0.1:7402", "gRPC listen address")
	c.NATS.Bind(l, "nats://127.0.0.1:7422")
	l.TLS(&c.TLS)
	l.String(&c.IssuerPublicKey, "issuer-public-key", "GATEPASS_ISSUER_PUBLIC_KEY", "", "issuer's event signing public key")
	l.String(&c.IssuerPublicKeyFile, "issuer-public-key-file", "GATEPASS_ISSUER_PUBLIC_KEY_FILE", "", "file holding the issuer's public key")
	l.String(&c.CachePath, "cache", "GATEPASS_VALIDATOR_CACHE", "data/validator.db", "bbolt cache file")
	l.String(&c.KeyFile, "key-file", "GATEPASS_VALIDATOR_KEY_FILE", "", "seed signing this validator's reports (default <cache>.nk)")
	l.String(&c.ID, "id", "GATEPASS_VALIDATOR_ID", "", "validator id in reports (default <hostname>/<listen address>)")
	l.Duration(&c.Staleness, "staleness", "GATEPASS_STALENESS", 5*time.Second, "longest time answering without confirming currency")
	l.Duration(&c.MaxClockSkew, "max-clock-skew", "GATEPASS_MAX_CLOCK_SKEW", time.Second, "bound on the clock difference between the issuer and this validator")
	l.Duration(&c.ServeStaleFor, "serve-stale-for", "GATEPASS_SERVE_STALE_FOR", 0, "keep answering this long past the staleness bound (0 fails closed)")
	l.Duration(&c.ReportInterval, "report-interval", "GATEPASS_REPORT_INTERVAL", time.Second, "interval between reports to the issuer")
	l.Duration(&c.UsageInterval, "usage-interval", "GATEPASS_USAGE_INTERVAL", 5*time.Second, "interval between usage reports to the issuer")
	l.String(&c.TokenPrefix, "token-prefix", "GATEPASS_TOKEN_PREFIX", token.DefaultPrefix, "token secret prefix")
	l.Bool(&c.Reflection, "reflection", "GATEPASS_REFLECTION", true, "register gRPC server reflection")
	l.String(&c.CheckListen, "check-listen", "GATEPASS_CHECK_LISTEN", "127.0.0.1:7403", "HTTP check endpoint address (empty: off)")
	l.String(&c.IntrospectionClients, "introspection-clients", "GATEPASS_INTROSPECTION_CLIENTS", "", "RFC 7662 introspection clients on the check listener, id:secret,… (empty: off)")
	l.String(&c.CheckStyle, "check-style", "GATEPASS_CHECK_STYLE", "nginx", "gateway in front of the HTTP check: nginx, caddy or traefik")
	l.String(&c.TrustedProxies, "trusted-proxies", "GATEPASS_TRUSTED_PROXIES", "127.0.0.1/32,::1/128", "proxies whose X-Forwarded-For is believed")
	l.String(&c.GatewayRulesFile, "gateway-rules", "GATEPASS_GATEWAY_RULES_FILE", "", "JSON rules: method and path prefix to project and min role")
	l.Bool(&c.KeepAuthorization, "keep-authorization", "GATEPASS_GATEWAY_KEEP_AUTHORIZATION", false, "pass the authorization header upstream on ext_authz allow")
	l.Telemetry(&c.Telemetry)
	l.String(&c.LogLevel, "log-level", "GATEPASS_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := l.Parse(args); err != nil {
		return c, err
	}
	if c.KeyFile == "" {
		c.KeyFile = c.CachePath + ".nk"
	}
	if c.IssuerPublicKey == "" && c.IssuerPublicKeyFile != "" {
		b, err := os.ReadFile(c.IssuerPublicKeyFile)
		if err != nil {
			return c, fmt.Errorf("issuer public key: %w", err)
		}
		c.IssuerPublicKey = strings.TrimSpace(string(b))
	}
	return c, c.Validate()
}

// Validate checks the configuration before anything starts.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	}
	if c.NATS.URL == "" {
		errs = append(errs, errors.New("nats-url is required"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Telemetry.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := event.NewVerifier(c.IssuerPublicKey); err != nil {
		errs = append(errs, errors.New("issuer-public-key (or issuer-public-key-file) must hold the issuer's nkeys public key"))
	}
	if c.CachePath == "" {
		errs = append(errs, errors.New("cache is required"))
	}
	if _, err := introspect.ParseClients(c.IntrospectionClients); err != nil {
		errs = append(errs, err)
	}
	if c.IntrospectionClients != "" && c.CheckListen == "" {
		errs = append(errs, errors.New("introspection-clients needs check-listen: introspection is served there"))
	}
	if c.Staleness < 100*time.Millisecond {
		errs = append(errs, errors.New("staleness must be at least 100ms"))
	}
	if c.ServeStaleFor < 0 {
		errs = append(errs, errors.New("serve-stale-for must not be negative"))
	}
	if c.MaxClockSkew < 0 || c.MaxClockSkew >= c.Staleness {
		errs = append(errs, errors.New("max-clock-skew must be at least 0 and below staleness"))
	}
	if c.ReportInterval <= 0 || c.UsageInterval <= 0 {
		errs = append(errs, errors.New("report-interval and usage-interval must be positive"))
	}
	if err := token.ValidatePrefix(c.TokenPrefix); err != nil {
		errs = append(errs, err)
	}
	if _, err := gate.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if _, err := gate.LoadRules(c.GatewayRulesFile); err != nil {
		errs = append(errs, err)
	}
	if _, err := httpcheck.ParseStyle(c.CheckStyle); err != nil {
		errs = append(errs, err)
	}
	if c.CheckListen != "" {
		if _, _, err := net.SplitHostPort(c.CheckListen); err != nil {
			errs = append(errs, fmt.Errorf("check-listen: %w", err))
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	return errors.Join(errs...)
}
