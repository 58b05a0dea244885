package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gatepass/gatepass/pkg/token"
)

func TestLoggerRedactsSecrets(t *testing.T) {
	t.Parallel()
	sec, err := token.Format{Prefix: "acme"}.Mint()
	if err != nil {
		t.Fatal(err)
	}
	s := sec.String()
	var buf bytes.Buffer
	log := NewLogger(&buf, -4).With("preset", s)
	log.Info("got "+s, "attr", s, "err", errors.New("bad "+s), "n", 3)
	log.WithGroup("g").Info("grouped", "inner", s)
	out := buf.String()
	if strings.Contains(out, s) {
		t.Fatalf("secret reached the log: %s", out)
	}
	if got := strings.Count(out, "[REDACTED]"); got != 6 {
		t.Fatalf("want 6 redactions, got %d in %s", got, out)
	}
	if !strings.Contains(out, `"n":3`) {
		t.Fatalf("non-string attribute lost: %s", out)
	}
}
