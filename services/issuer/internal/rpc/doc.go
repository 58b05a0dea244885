// Package rpc implements the issuer's gRPC services: IssuerService (the
// token lifecycle) and WorkspaceService (projects and members), with the
// authentication and request rules the shared server runs before them.
//
// Handlers adapt requests to the write operations of package lifecycle,
// which check authority and commit each change with its event; a change
// validators must apply then waits here, for a bounded time, for the
// receipt. Reads (get, list, review, audit) are answered here from the
// store. Domain errors become gRPC status codes here and nowhere else.
//
// # Caveats
//
// Status messages are visible to callers: they never contain a secret, and
// objects outside the caller's scope are reported as not found.
package rpc

import (
	"context"
	"errors"
	"log/slog"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/propagation"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Deps are what the services share.
type Deps struct {
	// Lifecycle runs every write; Store answers reads.
	Lifecycle *lifecycle.Service
	Store     *store.Store
	Publisher *propagation.Publisher
	Tracker   *propagation.Tracker
	Format    token.Format
	Now       func() time.Time
	// PropagationTimeout bounds how long a change waits for validators.
	PropagationTimeout time.Duration
	Logger             *slog.Logger
	// OnReceipt, if set, learns where a change's receipt time went: from
	// its commit to its publication, and from there to the receipt.
	OnReceipt func(toPublished, toReceipt time.Duration)
}

// propagate waits until the event is published and applied by every live
// validator, or PropagationTimeout passes, and returns the receipt.
func (d *Deps) propagate(ctx context.Context, eventID string) *gatepassv1.PropagationReceipt {
	start := time.Now()
	d.Publisher.Notify()
	ctx, cancel := context.WithTimeout(ctx, d.PropagationTimeout)
	defer cancel()
	pub, err := d.Publisher.WaitPublished(ctx, eventID)
	if err != nil {
		d.Logger.Warn("change committed but not yet published; the outbox will retry", "event_id", eventID)
		r, _ := d.Tracker.Receipt(propagation.Change{}, d.Now())
		return r
	}
	published := time.Now()
	r := d.Tracker.Wait(ctx, pub, d.Now)
	if d.OnReceipt != nil {
		d.OnReceipt(published.Sub(start), time.Since(published))
	}
	if !r.GetComplete() {
		d.Logger.Warn("change not applied or refused by every validator in time", "event_id", eventID,
			"applied", r.GetValidatorsApplied(), "refusing", r.GetValidatorsRefusing(), "live", r.GetValidatorsLive())
	}
	return r
}

// toStatus maps domain errors to gRPC status codes.
func toStatus(err error, what string) error {
	var st interface{ GRPCStatus() *status.Status }
	var v *policy.Violation
	switch {
	case err == nil:
		return nil
	case errors.As(err, &st):
		return err
	case errors.As(err, &v):
		return grpcserver.FieldError(v.Field, "%s", v.Msg)
	case errors.Is(err, lifecycle.ErrNameTaken):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, store.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s not found", what)
	case errors.Is(err, access.ErrForbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, access.ErrIllegalTransition), errors.Is(err, lifecycle.ErrPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Internal, "internal error")
}

// Propagate waits, as a lifecycle RPC does, until the event is applied by
// every live validator or the propagation timeout passes; for callers
// outside gRPC (the secret scanning endpoint).
func (d *Deps) Propagate(ctx context.Context, eventID string) *gatepassv1.PropagationReceipt {
	return d.propagate(ctx, eventID)
}
