// Package rpc implements gatepass.v1.ValidatorService: it parses the
// presented secret (rejecting malformed ones before any lookup), finds its
// state in the local cache and decides. It never calls the issuer.
package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/grpcserver"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/validator/internal/cache"
	"github.com/gatepass/gatepass/services/validator/internal/check"
	"github.com/gatepass/gatepass/services/validator/internal/usage"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxTokenLen bounds the token field; real secrets are far shorter.
const maxTokenLen = 256

// Store is the cache as the handler needs it.
type Store interface {
	Lookup(d token.Digest) (cache.Entry, error)
	ProjectWorkspace(projectID string) (string, bool)
}

// Server implements ValidatorService.
type Server struct {
	gatepassv1.UnimplementedValidatorServiceServer
	Store  Store
	Format token.Format
	// Current returns nil while the validator may answer.
	Current func() error
	Now     func() time.Time
	Logger  *slog.Logger
	// Validations counts answers by reason; nil counts nothing.
	Validations metric.Int64Counter
	// Usage collects statistics for the issuer; nil records nothing.
	Usage *usage.Recorder
}

// ValidateToken implements ValidatorService.
func (s *Server) ValidateToken(ctx context.Context, req *gatepassv1.ValidateTokenRequest) (*gatepassv1.ValidateTokenResponse, error) {
	if err := s.Current(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	var ip netip.Addr
	if req.GetClientIp() != "" {
		ip, _ = netip.ParseAddr(req.GetClientIp()) // checked by Validate
	}
	a, err := s.Decide(req.GetToken(), check.Request{ProjectID: req.GetProjectId(), MinRole: req.GetMinRole(), ClientIP: ip})
	if errors.Is(err, cache.ErrUnverified) {
		// Not yet covered by a checkpoint: like a validator that is not
		// current, for this token only. The caller retries shortly.
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "validate token", "error", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	if s.Validations != nil {
		s.Validations.Add(ctx, 1, check.ReasonOption(a.Reason))
	}
	if !a.Active() && s.Logger.Enabled(ctx, slog.LevelDebug) {
		s.Logger.DebugContext(ctx, "token refused", "reason", a.Reason.String(), "token_id", a.TokenID())
	}
	return a.Response(), nil
}

// Decide answers for a presented secret. It is shared by every front end
// (gRPC, and gateways that call it directly), and allocates nothing.
func (s *Server) Decide(secret string, req check.Request) (check.Answer, error) {
	sec, err := s.Format.Parse(secret)
	if err != nil {
		return check.Answer{Reason: gatepassv1.Reason_REASON_MALFORMED}, nil
	}
	e, err := s.Store.Lookup(sec.Digest())
	if errors.Is(err, cache.ErrNotFound) {
		return check.Answer{Reason: gatepassv1.Reason_REASON_UNKNOWN}, nil
	}
	if err != nil {
		return check.Answer{}, err
	}
	reason := check.Decide(&e.Token, req, s.Store.ProjectWorkspace, s.Now())
	s.Usage.Record(e.ID, reason, req.ClientIP, req.MinRole)
	return check.Answer{Reason: reason, Token: e.Token, Known: true}, nil
}

// Validate is the validator's grpcserver.ValidateFunc.
func Validate(req any) error {
	switch r := req.(type) {
	case *gatepassv1.ValidateTokenRequest:
		switch {
		case r.GetToken() == "":
			return grpcserver.FieldError("token", "is required")
		case len(r.GetToken()) > maxTokenLen:
			return grpcserver.FieldError("token", "is longer than %d bytes", maxTokenLen)
		case len(r.GetProjectId()) > 64:
			return grpcserver.FieldError("project_id", "is longer than 64 bytes")
		case r.GetMinRole() < 0 || r.GetMinRole() > gatepassv1.Role_ROLE_OWNER:
			return grpcserver.FieldError("min_role", "unknown role %d", r.GetMinRole())
		}
		if r.GetClientIp() != "" {
			if _, err := netip.ParseAddr(r.GetClientIp()); err != nil {
				return grpcserver.FieldError("client_ip", "must be an IPv4 or IPv6 address")
			}
		}
		return nil
	case *authv3.CheckRequest:
		// Envoy's request: every field is optional and checked by the
		// handler, which refuses what it cannot use.
		return nil
	}
	return status.Errorf(codes.Internal, "no validation for %T", req)
}
