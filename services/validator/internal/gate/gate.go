// Package gate turns a validator's answer into a gateway decision (allow,
// 401 or 403) shared by the Envoy ext_authz and HTTP check front ends: it
// reads the bearer token, chooses the project and minimum role from the
// route or from configured rules, and names the identity headers to pass
// upstream.
//
// # Caveats
//
// A gateway's answer must not tell an attacker an unknown token from a
// revoked one: every refusal of the token itself (missing, malformed,
// unknown, disabled, revoked, expired, or used from a network it is not
// allowed from) is the same 401. The precise reason goes only to logs and
// metrics.
package gate

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
	"github.com/gatepass/gatepass/services/validator/internal/check"
	"go.opentelemetry.io/otel/metric"
)

// Outcome is a gateway decision.
type Outcome int

// The decisions.
const (
	// Allow lets the request through with identity headers.
	Allow Outcome = iota
	// Unauthenticated is a 401: no usable token.
	Unauthenticated
	// Forbidden is a 403: a good token without the role or project.
	Forbidden
	// Unavailable: the validator is not current and must not answer.
	Unavailable
)

// Identity header names passed upstream on allow.
const (
	HeaderTokenID     = "x-gatepass-token-id"
	HeaderWorkspaceID = "x-gatepass-workspace-id"
	HeaderProjectID   = "x-gatepass-project-id"
	HeaderRole        = "x-gatepass-role"
	HeaderOwnerID     = "x-gatepass-owner-id"
)

// IdentityHeaders lists the headers set on allowed requests.
var IdentityHeaders = [...]string{HeaderTokenID, HeaderWorkspaceID, HeaderProjectID, HeaderRole, HeaderOwnerID}

// Request is what a gateway asks.
type Request struct {
	// Authorization is the raw Authorization header value.
	Authorization string
	// Method and Path (raw, normalized here) of the request authorized.
	Method, Path string
	// Route carries per-route settings (Envoy context extensions, query
	// parameters): they beat the rules.
	Route    Route
	ClientIP netip.Addr
}

// Route is what a route configures for its requests: "project_id" and
// "min_role", each possibly empty but set.
type Route struct {
	ProjectID, MinRole       string
	HasProjectID, HasMinRole bool
}

// RouteFrom reads a route's settings from key-value pairs (Envoy's
// context extensions).
func RouteFrom(kv map[string]string) Route {
	var r Route
	r.ProjectID, r.HasProjectID = kv["project_id"]
	r.MinRole, r.HasMinRole = kv["min_role"]
	return r
}

// Result is the decision and, on allow, the identity to pass upstream.
type Result struct {
	Outcome Outcome
	// Headers to add upstream on allow, in IdentityHeaders order (a
	// fixed array: nothing to allocate on every check).
	Headers [len(IdentityHeaders)][2]string
	// Reason is for logs and metrics only, never for the caller.
	Reason gatepassv1.Reason
}

// Decider answers for a secret; rpc.Server.Decide implements it.
type Decider func(secret string, req check.Request) (check.Answer, error)

// Gate makes gateway decisions.
type Gate struct {
	Decide  Decider
	Current func() error
	Rules   Rules
	Logger  *slog.Logger
	// Validations counts answers by reason; nil counts nothing.
	Validations metric.Int64Counter
}

// Check decides a request. An error means the check failed (treat as
// unavailable; never allow).
func (g *Gate) Check(ctx context.Context, r Request) (Result, error) {
	if err := g.Current(); err != nil {
		return Result{Outcome: Unavailable}, nil
	}
	req := check.Request{ClientIP: r.ClientIP}
	path, err := NormalizePath(r.Path)
	if err != nil {
		g.Logger.InfoContext(ctx, "gateway refused a path it cannot normalize", "method", r.Method, "client_ip", r.ClientIP.String())
		return Result{Outcome: Forbidden}, nil
	}
	var matched bool
	req.ProjectID, req.MinRole, matched = g.Rules.Match(r.Method, path)
	if !matched && !r.Route.HasProjectID && !r.Route.HasMinRole {
		// A valid token that matched no rule is not an allow.
		g.Logger.InfoContext(ctx, "gateway refused: no rule matches", "method", r.Method, "path", path, "client_ip", r.ClientIP.String())
		return Result{Outcome: Forbidden}, nil
	}
	if r.Route.HasProjectID {
		req.ProjectID = r.Route.ProjectID
	}
	if r.Route.HasMinRole {
		m := r.Route.MinRole
		role, ok := roles.Parse(m)
		if !ok {
			// A misconfigured route must fail closed, loudly.
			g.Logger.ErrorContext(ctx, "gateway route has an unknown min_role; refusing", "min_role", m)
			return Result{Outcome: Forbidden}, nil
		}
		req.MinRole = role
	}
	secret, ok := Bearer(r.Authorization)
	if !ok {
		g.count(ctx, gatepassv1.Reason_REASON_MALFORMED)
		return Result{Outcome: Unauthenticated, Reason: gatepassv1.Reason_REASON_MALFORMED}, nil
	}
	a, err := g.Decide(secret, req)
	if err != nil {
		return Result{Outcome: Unavailable}, err
	}
	g.count(ctx, a.Reason)
	res := Result{Reason: a.Reason}
	switch a.Reason {
	case gatepassv1.Reason_REASON_ACTIVE:
		res.Outcome = Allow
		t := &a.Token
		res.Headers = [len(IdentityHeaders)][2]string{
			{HeaderTokenID, t.ID},
			{HeaderWorkspaceID, t.WorkspaceID},
			{HeaderProjectID, t.ProjectID},
			{HeaderRole, roles.Name(t.Role)},
			{HeaderOwnerID, t.OwnerID},
		}
	case gatepassv1.Reason_REASON_WRONG_PROJECT, gatepassv1.Reason_REASON_INSUFFICIENT_ROLE:
		res.Outcome = Forbidden
	default:
		res.Outcome = Unauthenticated
	}
	if res.Outcome != Allow {
		g.Logger.InfoContext(ctx, "gateway refused", "reason", a.Reason.String(), "token_id", a.TokenID(),
			"method", r.Method, "path", path, "client_ip", r.ClientIP.String())
	}
	return res, nil
}

func (g *Gate) count(ctx context.Context, r gatepassv1.Reason) {
	if g.Validations != nil {
		g.Validations.Add(ctx, 1, check.ReasonOption(r))
	}
}

// Bearer extracts the token from an Authorization header value.
func Bearer(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok := strings.TrimSpace(rest)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
