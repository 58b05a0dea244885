// Package check decides whether a known token may act: status, expiry,
// project scope, minimum role and client network, in that order. It does no
// I/O; the caller supplies the cached state and the clock.
package check

import (
	"net/netip"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Request is what the caller wants the token to do.
type Request struct {
	// ProjectID, when set, must be within the token's scope.
	ProjectID string
	// MinRole, when set, the token's role must reach.
	MinRole gatepassv1.Role
	// ClientIP, when valid, must be inside the token's allowed CIDRs.
	ClientIP netip.Addr
}

// Scope is where a token acts and whose it is; tokens with the same scope
// share one.
type Scope struct {
	WorkspaceID, ProjectID, OwnerID string
}

// Token is a token's state as a decision and its answer need it, decoded
// once when the state is applied (networks parsed, expiry as a number),
// and compact: a validator holds one per token. It is never changed once
// shared: a newer state replaces it.
type Token struct {
	ID string
	*Scope
	// Expire is the expiry in Unix nanoseconds, unless NeverExpires.
	Expire int64
	// Networks, when not nil, are the only ones the token may be used
	// from; empty (allowed CIDRs of which none parsed) allows none.
	Networks *[]netip.Prefix
	// Created is the creation time in Unix seconds (0: unknown, in a
	// cache written before it was kept).
	Created      int64
	Status       gatepassv1.TokenStatus
	Role         gatepassv1.Role
	NeverExpires bool
}

// ScopeOf returns a token's scope.
func ScopeOf(t *gatepassv1.Token) Scope {
	return Scope{WorkspaceID: t.GetWorkspaceId(), ProjectID: t.GetProjectId(), OwnerID: t.GetOwnerId()}
}

// NewToken decodes the decision view of a token, with scope, which must
// be ScopeOf(t) (and may be shared with other tokens).
func NewToken(t *gatepassv1.Token, scope *Scope) Token {
	d := Token{
		ID: t.GetId(), Scope: scope,
		Status: t.GetStatus(), Role: t.GetRole(), NeverExpires: t.GetNeverExpires(),
	}
	if !d.NeverExpires {
		d.Expire = t.GetExpireTime().AsTime().UnixNano()
	}
	if t.GetCreateTime() != nil {
		d.Created = t.GetCreateTime().GetSeconds()
	}
	if len(t.GetAllowedCidrs()) > 0 {
		nets := make([]netip.Prefix, 0, len(t.GetAllowedCidrs()))
		for _, c := range t.GetAllowedCidrs() {
			if p, err := netip.ParsePrefix(c); err == nil {
				nets = append(nets, p.Masked())
			}
		}
		d.Networks = &nets
	}
	return d
}

// ExpireTime is Expire as a time (zero when it never expires).
func (t *Token) ExpireTime() time.Time {
	if t.NeverExpires {
		return time.Time{}
	}
	return time.Unix(0, t.Expire)
}

// ProjectWorkspace returns the workspace of a project, and false for an
// unknown project.
type ProjectWorkspace func(projectID string) (string, bool)

// Decide returns REASON_ACTIVE or why the token may not act.
func Decide(t *Token, req Request, projects ProjectWorkspace, now time.Time) gatepassv1.Reason {
	switch t.Status {
	case gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE:
	case gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED:
		return gatepassv1.Reason_REASON_DISABLED
	case gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
		return gatepassv1.Reason_REASON_REVOKED
	default:
		return gatepassv1.Reason_REASON_UNKNOWN
	}
	if token.ExpiredAt(t.ExpireTime(), t.NeverExpires, now) {
		return gatepassv1.Reason_REASON_EXPIRED
	}
	if req.ProjectID != "" && !inScope(t, req.ProjectID, projects) {
		return gatepassv1.Reason_REASON_WRONG_PROJECT
	}
	if req.MinRole != gatepassv1.Role_ROLE_UNSPECIFIED && t.Role < req.MinRole {
		return gatepassv1.Reason_REASON_INSUFFICIENT_ROLE
	}
	if t.Networks != nil && !allowedFrom(*t.Networks, req.ClientIP) {
		return gatepassv1.Reason_REASON_IP_NOT_ALLOWED
	}
	return gatepassv1.Reason_REASON_ACTIVE
}

func inScope(t *Token, projectID string, projects ProjectWorkspace) bool {
	if t.ProjectID != "" {
		return t.ProjectID == projectID
	}
	ws, ok := projects(projectID)
	return ok && ws == t.WorkspaceID
}

// allowedFrom reports whether ip is inside one of cidrs. A token limited to
// networks is refused when the client address is unknown.
func allowedFrom(cidrs []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range cidrs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Answer is a decision and the token it is about. A value: making one
// allocates nothing.
type Answer struct {
	Reason gatepassv1.Reason
	// Token is the token the answer is about, when Known (not for a
	// malformed or unknown secret).
	Token Token
	Known bool
}

// Active reports whether the token may act.
func (a Answer) Active() bool { return a.Reason == gatepassv1.Reason_REASON_ACTIVE }

// TokenID is the token's public id, or "".
func (a Answer) TokenID() string {
	if !a.Known {
		return ""
	}
	return a.Token.ID
}

// Response is the answer as ValidatorService returns it.
func (a Answer) Response() *gatepassv1.ValidateTokenResponse {
	r := &gatepassv1.ValidateTokenResponse{Active: a.Active(), Reason: a.Reason}
	if t := &a.Token; a.Known {
		r.TokenId, r.WorkspaceId, r.ProjectId, r.Role, r.OwnerId = t.ID, t.WorkspaceID, t.ProjectID, t.Role, t.OwnerID
		if !t.NeverExpires {
			r.ExpireTime = timestamppb.New(t.ExpireTime())
		}
	}
	return r
}
