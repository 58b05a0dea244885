package lifecycle

import (
	"errors"
	"log/slog"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
)

var (
	// ErrPrecondition is returned when the current state refuses a change
	// (an inactive owner, a revoked token, the last owner leaving).
	ErrPrecondition = errors.New("failed precondition")
	// ErrNameTaken is returned when a live token of the workspace already
	// has the name.
	ErrNameTaken = errors.New("name taken")
)

// Service runs the issuer's write operations.
type Service struct {
	Store  *store.Store
	Format token.Format
	// Now is the clock; domain code never reads the machine's.
	Now func() time.Time
	// Notify tells the publisher the outbox has entries; nil for none.
	Notify func()
	// Logger records changes by token id; nil discards.
	Logger *slog.Logger
}

// notify tells the publisher after a commit.
func (s *Service) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// auditOf starts the audit record of an action by p.
func auditOf(p access.Principal, action, target, reason, workspaceID string) *gatepassv1.AuditEvent {
	return &gatepassv1.AuditEvent{
		WorkspaceId: workspaceID, ActorTokenId: p.TokenID, ActorMemberId: p.MemberID,
		Action: action, TargetId: target, Reason: reason,
	}
}
