package lifecycle

import (
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/policy"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Rotation is a RotateToken: a successor with the same access, and when
// the old token is to be disabled and revoked.
type Rotation struct {
	TokenID string
	// Name and ExpireTime of the successor; by default the old name and
	// the old token's lifetime from now.
	Name       string
	ExpireTime *timestamppb.Timestamp
	// DisableOldAfter and RevokeOldAfter schedule the old token's end.
	DisableOldAfter, RevokeOldAfter *durationpb.Duration
	Reason                          string
	// Narrowing applies to the successor (its ExpireTime is unused: the
	// successor's expiry is ExpireTime above).
	Narrowing
}

// Rotated is the successor, its secret, the old token, and the event to
// wait for (the old token's, queued last: once it is applied, both are).
type Rotated struct {
	Token, Old *gatepassv1.Token
	Secret     string
	EventID    string
}

// Rotate creates the successor of a token for p (an admin who can see it
// and whose role reaches it, or the token itself when it may self-rotate)
// and schedules the old one's end.
func (s *Service) Rotate(p access.Principal, r Rotation) (Rotated, error) {
	if err := firstError(requireDelay("disable_old_after", r.DisableOldAfter), requireDelay("revoke_old_after", r.RevokeOldAfter)); err != nil {
		return Rotated{}, err
	}
	sec, err := s.Format.Mint()
	if err != nil {
		return Rotated{}, err
	}
	var out Rotated
	err = s.Store.Update(func(tx *store.Tx) error {
		st, err := tx.Token(r.TokenID)
		if err != nil {
			return err
		}
		old := st.GetToken()
		self, err := mayRotate(p, old)
		if err != nil {
			return err
		}
		pol, err := tx.Policy(old.GetWorkspaceId())
		if err != nil {
			return err
		}
		fresh, err := s.successor(tx, pol, p, sec, old, r)
		if err != nil {
			return err
		}
		old.ReplacedByTokenId = fresh.GetId()
		if self {
			r = capOverlap(r, pol)
		}
		if err := schedule(tx, old, s.Now(), r); err != nil {
			return err
		}
		if out.EventID, err = tx.PutToken(st); err != nil {
			return err
		}
		out.Token, out.Old = fresh, proto.CloneOf(old)
		return tx.Audit(rotationAudit(p, old, r.Reason))
	})
	if err != nil {
		return Rotated{}, err
	}
	s.notify()
	s.log().Info("token rotated", "token_id", r.TokenID, "replaced_by", out.Token.GetId(), "by", p.TokenID)
	out.Secret = sec.String()
	return out, nil
}

// mayRotate checks p's right to rotate old and old's state; self reports
// a self-rotation.
func mayRotate(p access.Principal, old *gatepassv1.Token) (self bool, err error) {
	self = old.GetId() == p.TokenID && old.GetSelfRotate()
	if !self {
		if err := p.RequireRole(access.RoleAdmin); err != nil {
			return false, err
		}
		if !p.CanSee(old.GetWorkspaceId(), old.GetProjectId()) {
			return false, store.ErrNotFound
		}
		if access.Role(old.GetRole()) > p.Role {
			return false, fmt.Errorf("%w: cannot rotate a token whose role is above your own", access.ErrForbidden)
		}
	}
	switch {
	case old.GetStatus() == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
		return false, fmt.Errorf("%w: a revoked token cannot be rotated; create a new one", ErrPrecondition)
	case old.GetReplacedByTokenId() != "":
		return false, fmt.Errorf("%w: already rotated to %s", ErrPrecondition, old.GetReplacedByTokenId())
	}
	return self, nil
}

// successor stores the new token: the old one's access, owner and
// networks, a free name, and an expiry within the policy.
func (s *Service) successor(tx *store.Tx, pol *gatepassv1.Policy, p access.Principal, sec token.Secret, old *gatepassv1.Token, r Rotation) (*gatepassv1.Token, error) {
	if err := checkOwner(tx, old.GetWorkspaceId(), old.GetOwnerId(), old.GetRole()); err != nil {
		return nil, fmt.Errorf("%w (transfer the token to an active owner first)", err)
	}
	name := old.GetName()
	if r.Name != "" {
		name = r.Name
	}
	if err := checkNewName(tx, pol, old.GetWorkspaceId(), name, old.GetId()); err != nil {
		return nil, err
	}
	now := s.Now()
	expire, never := r.ExpireTime, false
	if expire == nil {
		if old.GetNeverExpires() {
			never = true
		} else {
			lifetime := old.GetExpireTime().AsTime().Sub(old.GetCreateTime().AsTime())
			expire = timestamppb.New(now.Add(lifetime))
		}
	}
	expire, never, err := policy.Expiry(pol, now, expire, never)
	if err != nil {
		return nil, err
	}
	next := &gatepassv1.Token{
		Name: name, Description: old.GetDescription(),
		WorkspaceId: old.GetWorkspaceId(), ProjectId: old.GetProjectId(), Role: old.GetRole(),
		OwnerId: old.GetOwnerId(), CreatedBy: p.TokenID,
		ExpireTime: expire, NeverExpires: never,
		AllowedCidrs: old.GetAllowedCidrs(), SelfRotate: old.GetSelfRotate(),
		ReplacesTokenId: old.GetId(),
	}
	n := r.Narrowing
	n.ExpireTime = nil
	if _, err := narrow(tx, next, n, now); err != nil {
		return nil, err
	}
	fresh, _, err := s.putNewToken(tx, sec, next, p)
	return fresh, err
}

// capOverlap makes a self-rotation end the old token within the overlap
// the workspace allows: a leaked token cannot mint a lasting second
// credential.
func capOverlap(r Rotation, pol *gatepassv1.Policy) Rotation {
	limit := policy.Effective(pol).GetMaxRotationOverlap()
	if d := r.RevokeOldAfter; d == nil || d.AsDuration() > limit.AsDuration() {
		r.RevokeOldAfter = limit
	}
	if d := r.DisableOldAfter; d != nil && d.AsDuration() > r.RevokeOldAfter.AsDuration() {
		r.DisableOldAfter = nil
	}
	return r
}

// schedule records the old token's planned disable and revoke.
func schedule(tx *store.Tx, old *gatepassv1.Token, now time.Time, r Rotation) error {
	if d := r.DisableOldAfter; d != nil {
		at := now.Add(d.AsDuration())
		old.ScheduledDisableTime = timestamppb.New(at)
		if err := tx.Schedule(at, scheduleDisable, old.GetId()); err != nil {
			return err
		}
	}
	if d := r.RevokeOldAfter; d != nil {
		at := now.Add(d.AsDuration())
		old.ScheduledRevokeTime = timestamppb.New(at)
		if err := tx.Schedule(at, scheduleRevoke, old.GetId()); err != nil {
			return err
		}
	}
	return nil
}

func rotationAudit(p access.Principal, old *gatepassv1.Token, reason string) *gatepassv1.AuditEvent {
	a := auditOf(p, "token.rotate", old.GetId(), reason, old.GetWorkspaceId())
	a.Details = map[string]string{"replaced_by": old.GetReplacedByTokenId()}
	for k, ts := range map[string]*timestamppb.Timestamp{"disable_at": old.GetScheduledDisableTime(), "revoke_at": old.GetScheduledRevokeTime()} {
		if ts != nil {
			a.Details[k] = ts.AsTime().UTC().Format(time.RFC3339)
		}
	}
	return a
}
