package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestAtomicBatchesOnACluster: with the token stream at three replicas on
// a three-node cluster, concurrent creates reach JetStream as atomic
// batches (one raft proposal, one sync each), and a validator following
// the cluster holds every token.
func TestAtomicBatchesOnACluster(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	nats := startCluster(t, 3)
	iss := w.startIssuer(issuerOpts{natsURL: nats.urls(), dataDir: filepath.Join(t.TempDir(), "issuer"),
		env: map[string]string{"GATEPASS_STREAM_REPLICAS": "3"}})
	admin, client := iss.vars["GATEPASS_TOKEN"], issuerClient(t, iss)
	const n, parallel = 400, 64
	secrets := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			resp, err := client.CreateToken(authed(t, admin), &gatepassv1.CreateTokenRequest{
				Name: fmt.Sprintf("atomic-%03d", i), Role: gatepassv1.Role_ROLE_VIEWER, NeverExpires: true})
			if err != nil {
				errs <- err
				return
			}
			secrets[i] = w.secret(resp.GetSecret())
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CreateToken: %v", err)
	}
	// A batch can be refused now and then on a loaded machine (the commit
	// of a batch whose first messages the cluster did not all take, or a
	// batch sent again after a step timed out, whose events the stream
	// already holds); the fallback publishes it entry by entry. What must
	// not happen is the cluster refusing atomic batches as such.
	logs := iss.stderr.String()
	var refusals []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "atomic batch refused") {
			refusals = append(refusals, line)
		}
	}
	accepted := strings.Count(logs, "published an atomic batch")
	if accepted == 0 {
		t.Fatalf("%d creates, %d at a time, published no atomic batch; refusals:\n%s", n, parallel, strings.Join(refusals, "\n"))
	}
	if len(refusals) > 0 {
		t.Logf("%d atomic batches accepted, and refused (logged at most once an hour):\n%s", accepted, strings.Join(refusals, "\n"))
	}
	v := w.startValidator("v1", nats.urls(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(t.TempDir(), "v1.db"), 5*time.Second)
	vc := validatorClient(t, v)
	eventually(t, 30*time.Second, "the validator holds every token", func() bool {
		for _, s := range secrets {
			if reason(t, vc, s) != gatepassv1.Reason_REASON_ACTIVE.String() {
				return false
			}
		}
		return true
	})
}
