package rpc

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"

	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/logtest"
	"github.com/gatepass/gatepass/pkg/natstest"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/telemetry"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/publish"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// harness is a real issuer: bbolt in a temp dir, embedded NATS, publisher
// and gRPC server on loopback, with no validators.
type harness struct {
	signer     *event.Signer
	deps       *Deps
	issuerImpl *Issuer
	conn       *grpc.ClientConn
	issuer     gatepassv1.IssuerServiceClient
	ws         gatepassv1.WorkspaceServiceClient
	owner      string // bootstrap owner secret
	logs       *logtest.Buffer
	js         jetstream.JetStream
}

func newHarness(t testing.TB) *harness { return newHarnessAt(t, time.Now) }

// newHarnessAt runs the issuer on the clock now.
func newHarnessAt(t testing.TB, now func() time.Time) *harness {
	t.Helper()
	_, nc, js := natstest.Start(t)
	st, signer := storetest.Open(t, now)
	logs := &logtest.Buffer{}
	log := telemetry.NewLogger(logs, slog.LevelDebug)
	pub, err := publish.New(st, nc, js, signer, publish.Options{Replicas: 1, Heartbeat: 100 * time.Millisecond, Logger: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// No validators here: development mode with no liveness window, on the
	// harness clock, so receipts complete as soon as the change is published.
	tracker := propagation.NewTracker(propagation.TrackerOptions{MaxBound: time.Second, MaxSkew: time.Second}, now())
	deps := &Deps{
		Lifecycle: &lifecycle.Service{Store: st, Format: token.Format{}, Now: now, Notify: pub.Notify, Logger: log},
		Store:     st, Publisher: pub, Tracker: tracker, Format: token.Format{},
		Now: now, PropagationTimeout: 2 * time.Second, Logger: log,
	}
	owner, err := deps.Lifecycle.Bootstrap(lifecycle.Bootstrap{Workspace: "acme", Owner: "olivia", TokenTTL: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	auth := &Authenticator{Store: st, Format: token.Format{}, Now: now}
	srv, err := grpcserver.New(grpcserver.Options{
		Addr: "127.0.0.1:0", Logger: log, Auth: auth.Authenticate, Validate: mustRules(t, now),
	})
	if err != nil {
		t.Fatal(err)
	}
	gatepassv1.RegisterIssuerServiceServer(srv.GRPC(), &Issuer{Deps: deps})
	gatepassv1.RegisterWorkspaceServiceServer(srv.GRPC(), &Workspace{Deps: deps})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { pub.Run(ctx) })
	wg.Go(func() { _ = srv.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{
		signer: signer, deps: deps, issuerImpl: &Issuer{Deps: deps}, conn: conn, owner: owner, logs: logs, js: js,
		issuer: gatepassv1.NewIssuerServiceClient(conn), ws: gatepassv1.NewWorkspaceServiceClient(conn),
	}
}

// as returns a context that authenticates with secret.
func as(t testing.TB, secret string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// mustCreate creates a token as caller and returns its secret and record.
func (h *harness) mustCreate(t testing.TB, caller string, req *gatepassv1.CreateTokenRequest) (string, *gatepassv1.Token) {
	t.Helper()
	resp, err := h.issuer.CreateToken(as(t, caller), req)
	if err != nil {
		t.Fatalf("CreateToken(%s): %v", req.GetName(), err)
	}
	return resp.GetSecret(), resp.GetToken()
}

func mustRules(t testing.TB, now func() time.Time) grpcserver.ValidateFunc {
	t.Helper()
	v, err := Rules(now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
