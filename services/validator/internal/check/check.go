// Package check decides whether a known token may act: status, expiry,
// project scope, minimum role and client network, in that order. It does no
// I/O; the caller supplies the cached state and the clock.
package check

import (
	"net/netip"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
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

// ProjectWorkspace returns the workspace of a project, and false for an
// unknown project.
type ProjectWorkspace func(projectID string) (string, bool)

// Decide returns REASON_ACTIVE or why the token may not act.
func Decide(t *gatepassv1.Token, req Request, projects ProjectWorkspace, now time.Time) gatepassv1.Reason {
	switch t.GetStatus() {
	case gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE:
	case gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED:
		return gatepassv1.Reason_REASON_DISABLED
	case gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED:
		return gatepassv1.Reason_REASON_REVOKED
	default:
		return gatepassv1.Reason_REASON_UNKNOWN
	}
	if token.Expired(t, now) {
		return gatepassv1.Reason_REASON_EXPIRED
	}
	if req.ProjectID != "" && !inScope(t, req.ProjectID, projects) {
		return gatepassv1.Reason_REASON_WRONG_PROJECT
	}
	if req.MinRole != gatepassv1.Role_ROLE_UNSPECIFIED && t.GetRole() < req.MinRole {
		return gatepassv1.Reason_REASON_INSUFFICIENT_ROLE
	}
	if len(t.GetAllowedCidrs()) > 0 && !allowedFrom(t.GetAllowedCidrs(), req.ClientIP) {
		return gatepassv1.Reason_REASON_IP_NOT_ALLOWED
	}
	return gatepassv1.Reason_REASON_ACTIVE
}

func inScope(t *gatepassv1.Token, projectID string, projects ProjectWorkspace) bool {
	if t.GetProjectId() != "" {
		return t.GetProjectId() == projectID
	}
	ws, ok := projects(projectID)
	return ok && ws == t.GetWorkspaceId()
}

// allowedFrom reports whether ip is inside one of cidrs. A token limited to
// networks is refused when the client address is unknown.
func allowedFrom(cidrs []string, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}
