package client

import (
	"context"
	"net/netip"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// Principal is the caller a token stands for.
type Principal struct {
	TokenID     string
	WorkspaceID string
	// ProjectID is empty for a workspace token.
	ProjectID string
	Role      gatepassv1.Role
	OwnerID   string
}

type principalKey struct{}

// PrincipalFrom returns the caller put in ctx by the interceptors or the
// middleware.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Requirement is what a call needs from its caller's token.
type Requirement struct {
	// ProjectID, when set, must be within the token's scope.
	ProjectID string
	// MinRole, when set, the token's role must reach.
	MinRole gatepassv1.Role
}

// Verdict is the outcome of checking a caller.
type Verdict int

// The verdicts.
const (
	Allowed Verdict = iota
	// Unauthenticated: no usable token (401).
	Unauthenticated
	// Forbidden: a good token without the role or project (403).
	Forbidden
	// Unavailable: no validator could answer (503).
	Unavailable
)

// Check validates authorization (an "authorization" header value) for req
// and returns the verdict and, when allowed, the principal.
func (c *Client) Check(ctx context.Context, authorization string, req Requirement, clientIP netip.Addr) (Verdict, Principal) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		return Unauthenticated, Principal{}
	}
	vr := &gatepassv1.ValidateTokenRequest{Token: tok, ProjectId: req.ProjectID, MinRole: req.MinRole}
	if clientIP.IsValid() {
		vr.ClientIp = clientIP.String()
	}
	resp, err := c.Validate(ctx, vr)
	if err != nil {
		return Unavailable, Principal{}
	}
	switch resp.GetReason() {
	case gatepassv1.Reason_REASON_ACTIVE:
		return Allowed, Principal{
			TokenID: resp.GetTokenId(), WorkspaceID: resp.GetWorkspaceId(), ProjectID: resp.GetProjectId(),
			Role: resp.GetRole(), OwnerID: resp.GetOwnerId(),
		}
	case gatepassv1.Reason_REASON_WRONG_PROJECT, gatepassv1.Reason_REASON_INSUFFICIENT_ROLE:
		return Forbidden, Principal{}
	}
	return Unauthenticated, Principal{}
}
