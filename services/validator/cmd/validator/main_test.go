package main

import (
	"io"
	"strings"
	"testing"

	"github.com/gatepass/gatepass/pkg/event"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	seed, _ := event.GenerateSeed()
	s, _ := event.NewSigner(seed)
	key := map[string]string{"GATEPASS_ISSUER_PUBLIC_KEY": s.PublicKey()}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"defaults with key", nil, key, ""},
		{"no key", nil, nil, "issuer-public-key"},
		{"seed instead of key", nil, map[string]string{"GATEPASS_ISSUER_PUBLIC_KEY": string(seed)}, "issuer-public-key"},
		{"staleness", []string{"-staleness", "1ms"}, key, "staleness"},
		{"negative serve stale", []string{"-serve-stale-for", "-1s"}, key, "serve-stale-for"},
		{"half TLS", []string{"-tls-key", "k.pem"}, key, "tls-cert and tls-key"},
		{"stray argument", []string{"extra"}, key, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("loadConfig = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestKeyCommand(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/v.nk"
	var out1, out2 strings.Builder
	if err := run(t.Context(), []string{"key", "-key-file", file}, func(string) string { return "" }, &out1, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"key", "-key-file", file}, func(string) string { return "" }, &out2, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out1.String() != out2.String() || !strings.HasPrefix(out1.String(), "N") {
		t.Fatalf("key not stable: %q %q", out1.String(), out2.String())
	}
	if err := run(t.Context(), []string{"key"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("key without -key-file accepted")
	}
}
