// Package config loads a binary's settings from flags and environment
// variables through an injected lookup, so tests never touch the real
// environment. A flag set on the command line beats the environment, which
// beats the default.
package config

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Loader binds fields to flags with environment fallbacks.
type Loader struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// NewLoader returns a loader for a binary's flag set. Usage goes to w.
func NewLoader(name string, getenv func(string) string, w io.Writer) *Loader {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	return &Loader{fs: fs, getenv: getenv}
}

func (l *Loader) env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v := l.getenv(name)
	return v, v != ""
}

func (l *Loader) usage(usage, env string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s (env %s)", usage, env)
}

// String binds a string.
func (l *Loader) String(p *string, name, env, def, usage string) {
	if v, ok := l.env(env); ok {
		def = v
	}
	l.fs.StringVar(p, name, def, l.usage(usage, env))
}

// Duration binds a duration such as "5s".
func (l *Loader) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := l.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: %w", env, err))
		}
		def = d
	}
	l.fs.DurationVar(p, name, def, l.usage(usage, env))
}

// Int binds an integer.
func (l *Loader) Int(p *int, name, env string, def int, usage string) {
	if v, ok := l.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: %w", env, err))
		}
		def = n
	}
	l.fs.IntVar(p, name, def, l.usage(usage, env))
}

// Bool binds a boolean.
func (l *Loader) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := l.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("%s: %w", env, err))
		}
		def = b
	}
	l.fs.BoolVar(p, name, def, l.usage(usage, env))
}

// Parse parses args and returns the first environment or flag error.
func (l *Loader) Parse(args []string) error {
	if len(l.errs) > 0 {
		return l.errs[0]
	}
	if err := l.fs.Parse(args); err != nil {
		return err
	}
	if l.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", l.fs.Args())
	}
	return nil
}

// TLS is a server certificate; both empty serves plaintext.
type TLS struct {
	CertFile, KeyFile string
}

// TLS registers the gRPC server's certificate settings.
func (l *Loader) TLS(t *TLS) {
	l.String(&t.CertFile, "tls-cert", "GATEPASS_TLS_CERT_FILE", "", "gRPC server certificate (PEM); empty serves plaintext")
	l.String(&t.KeyFile, "tls-key", "GATEPASS_TLS_KEY_FILE", "", "gRPC server private key (PEM)")
}

// Validate reports a half-configured certificate.
func (t TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("tls-cert and tls-key must be set together")
	}
	return nil
}

// Telemetry says where metrics and traces go.
type Telemetry struct {
	// MetricsListen serves Prometheus /metrics there; empty serves none.
	MetricsListen string
	// OTLPEndpoint receives traces over OTLP/gRPC (http://host:4317); empty
	// records none.
	OTLPEndpoint string
	// Pprof serves Go profiles at /debug/pprof/ on the metrics listener.
	// Default false.
	Pprof bool
}

// Telemetry registers the telemetry settings.
func (l *Loader) Telemetry(t *Telemetry) {
	l.String(&t.MetricsListen, "metrics-listen", "GATEPASS_METRICS_LISTEN", "", "address for Prometheus /metrics (empty: off)")
	l.String(&t.OTLPEndpoint, "otlp-endpoint", "GATEPASS_OTLP_ENDPOINT", "", "OTLP/gRPC trace collector, e.g. http://127.0.0.1:4317 (empty: off)")
	l.Bool(&t.Pprof, "pprof", "GATEPASS_PPROF", false, "serve /debug/pprof/ on the metrics listener")
}

// Validate checks the telemetry addresses.
func (t Telemetry) Validate() error {
	if t.OTLPEndpoint == "" {
		return nil
	}
	u, err := url.Parse(t.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("otlp-endpoint %q: want http://host:port or https://host:port", t.OTLPEndpoint)
	}
	return nil
}

// List splits a comma-separated setting into its trimmed, non-empty items.
func List(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
