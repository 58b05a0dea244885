package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestModuleStaysLean holds the promise of this module: a service that
// imports the client builds gRPC, protobuf and the generated code, not the
// NATS server, bbolt, Prometheus, OpenTelemetry or Envoy that gatepass's
// own binaries need. It reads the module graph of the client's packages
// from its own go.mod, as a service importing it would see it.
func TestModuleStaysLean(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./...")
	cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{
		"github.com/gatepass/gatepass/pkg/client",
		"github.com/gatepass/gatepass/pkg/gen",
		"buf.build/gen/go/bufbuild/protovalidate",
		"google.golang.org/grpc",
		"google.golang.org/protobuf",
		"google.golang.org/genproto/googleapis/rpc",
		"golang.org/x/net",
		"golang.org/x/sys",
		"golang.org/x/text",
	}
	var mods []string
	for m := range strings.FieldsSeq(string(out)) {
		mods = append(mods, m)
		ok := false
		for _, a := range allowed {
			ok = ok || m == a || strings.HasPrefix(m, a+"/")
		}
		if !ok {
			t.Errorf("the client's build pulls in module %s", m)
		}
	}
	if len(mods) == 0 {
		t.Fatal("go list printed no modules")
	}
}
