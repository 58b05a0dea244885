package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// BenchmarkValidateTokenGRPC measures ValidateToken through the whole
// stack: a client on loopback, a real validator process (built without the
// race detector when benchmarking), bbolt cache, usage recording on.
// Parallel clients share one connection, as a service would.
func BenchmarkValidateTokenGRPC(b *testing.B) {
	w := newWorld(b)
	w.logLevel = "info"
	ns, iss, dir := w.natsAndIssuer()
	v := w.startValidator("bench", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 5*time.Second)
	tok := w.createToken(issuerClient(b, iss), iss.vars["GATEPASS_TOKEN"], "bench-runner", gatepassv1.Role_ROLE_TESTER)
	vc := validatorClient(b, v)
	req := &gatepassv1.ValidateTokenRequest{Token: tok.GetSecret(), MinRole: gatepassv1.Role_ROLE_TESTER, ClientIp: "10.0.0.1"}
	eventually(b, 10*time.Second, "token valid", func() bool { return reason(b, vc, tok.GetSecret()) == "REASON_ACTIVE" })
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			resp, err := vc.ValidateToken(ctx, req)
			if err != nil || !resp.GetActive() {
				b.Fatal(resp, err)
			}
		}
	})
}
