package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestInitPrintsOnceAndRefusesTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"init", "-data-dir", dir, "-workspace", "acme"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "GATEPASS_TOKEN=gp_") || !strings.Contains(out.String(), "GATEPASS_ISSUER_PUBLIC_KEY=N") {
		t.Fatalf("init printed %q", out.String())
	}
	out.Reset()
	err := run(context.Background(), []string{"init", "-data-dir", dir}, env(nil), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refusing to run twice") {
		t.Fatalf("second init: %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("second init printed %q", out.String())
	}
}

// TestServeNeedsValidatorKeys: without validator keys anyone who can
// publish on NATS could speak for a validator; serving then needs an
// explicit development flag.
func TestServeNeedsValidatorKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := run(context.Background(), []string{"-data-dir", dir}, env(nil), io.Discard, io.Discard)
	if !errors.Is(err, errNoValidatorKeys) {
		t.Fatalf("serve without validator keys: %v", err)
	}
	cfg, err := loadConfig("issuer", []string{"-development"}, env(nil), io.Discard)
	if err != nil || cfg.checkServe() != nil {
		t.Fatalf("development mode: %v %v", err, cfg.checkServe())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"defaults", nil, nil, ""},
		{"bad listen", []string{"-listen", "nowhere"}, nil, "listen"},
		{"bad prefix", nil, map[string]string{"GATEPASS_TOKEN_PREFIX": "GP"}, "prefix"},
		{"bad timeout env", nil, map[string]string{"GATEPASS_PROPAGATION_TIMEOUT": "soon"}, "GATEPASS_PROPAGATION_TIMEOUT"},
		{"zero timeout", []string{"-propagation-timeout", "0s"}, nil, "propagation-timeout"},
		{"replicas", []string{"-stream-replicas", "7"}, nil, "stream-replicas"},
		{"half TLS", []string{"-tls-cert", "c.pem"}, nil, "tls-cert and tls-key"},
		{"log level", []string{"-log-level", "loud"}, nil, "log-level"},
		{"timeout under max bound", []string{"-propagation-timeout", "3s", "-max-answer-bound", "4s"}, nil, "above max-answer-bound"},
		{"otlp endpoint", nil, map[string]string{"GATEPASS_OTLP_ENDPOINT": "collector:4317"}, "otlp-endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig("issuer", tt.args, env(tt.env), io.Discard)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("loadConfig = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}
