// Package issuertest runs a real issuer for the tests of any package: bbolt
// in a temporary directory, an embedded NATS JetStream server, the
// publisher and the gRPC services on loopback, bootstrapped with an owner
// token. There are no validators, so receipts complete once a change is
// published.
package issuertest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"

	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/publish"
	"github.com/gatepass/gatepass/services/issuer/internal/rpc"
)

// Issuer is a running issuer.
type Issuer struct {
	// Addr is its gRPC address on loopback.
	Addr string
	// Owner is the bootstrap owner token's secret.
	Owner string
}

// Start runs an issuer until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	_, nc, js := natstest.Start(t)
	st, signer := storetest.Open(t, time.Now)
	pub, err := publish.New(st, nc, js, signer, publish.Options{Replicas: 1, Heartbeat: 100 * time.Millisecond, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	life := &lifecycle.Service{Store: st, Now: time.Now, Notify: pub.Notify}
	owner, err := life.Bootstrap(lifecycle.Bootstrap{Workspace: "acme", Owner: "olivia", TokenTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := rpc.Rules(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	auth := &rpc.Authenticator{Store: st, Now: time.Now}
	srv, err := grpcserver.New(grpcserver.Options{Addr: "127.0.0.1:0", Auth: auth.Authenticate, Validate: rules})
	if err != nil {
		t.Fatal(err)
	}
	deps := &rpc.Deps{
		Lifecycle: life, Store: st, Publisher: pub, Format: token.Format{}, Now: time.Now,
		Tracker:            propagation.NewTracker(propagation.TrackerOptions{MaxBound: time.Second, MaxSkew: time.Second}, time.Now()),
		PropagationTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler),
	}
	gatepassv1.RegisterIssuerServiceServer(srv.GRPC(), &rpc.Issuer{Deps: deps})
	gatepassv1.RegisterWorkspaceServiceServer(srv.GRPC(), &rpc.Workspace{Deps: deps})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { pub.Run(ctx) })
	wg.Go(func() { _ = srv.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &Issuer{Addr: srv.Addr(), Owner: owner}
}

// Owner bootstraps a workspace through life and returns its owner's
// principal, for tests that call lifecycle operations directly.
func Owner(t testing.TB, life *lifecycle.Service) access.Principal {
	t.Helper()
	secret, err := life.Bootstrap(lifecycle.Bootstrap{Workspace: "acme", Owner: "olivia"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := life.Format.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	var p access.Principal
	err = life.Store.View(func(tx *store.Tx) error {
		ts, err := tx.TokenByDigest(sec.Digest())
		tk := ts.GetToken()
		p = access.Principal{TokenID: tk.GetId(), MemberID: tk.GetOwnerId(), WorkspaceID: tk.GetWorkspaceId(), Role: access.RoleOwner}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
