package rpc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The caller dimensions of the authorization matrix.
const (
	scopeWorkspace = "workspace token"
	scopeOwn       = "own project"
	scopeOther     = "other project"
	scopeElsewhere = "other workspace"

	stateActive   = "active"
	stateDisabled = "disabled"
	stateRevoked  = "revoked"
	stateExpired  = "expired"
	stateDemoted  = "owner demoted"
	stateRemoved  = "owner removed"
)

var (
	matrixRoles  = []gatepassv1.Role{viewer, tester, gatepassv1.Role_ROLE_MAINTAINER, admin, owner}
	matrixScopes = []string{scopeWorkspace, scopeOwn, scopeOther, scopeElsewhere}
	matrixStates = []string{stateActive, stateDisabled, stateRevoked, stateExpired, stateDemoted, stateRemoved}
)

// caller is one column of the matrix: a token of some role, scope and state.
type caller struct {
	role   gatepassv1.Role
	scope  string
	state  string
	secret string
}

func (c caller) String() string {
	return fmt.Sprintf("%s %s, %s", strings.ToLower(strings.TrimPrefix(c.role.String(), "ROLE_")), c.scope, c.state)
}

// effective is the role the caller acts with, or 0 when it cannot act.
func (c caller) effective() gatepassv1.Role {
	switch c.state {
	case stateActive:
		return c.role
	case stateDemoted:
		return viewer // its owner was demoted to viewer
	}
	return 0
}

// targeted rows act on objects in the target project of the first
// workspace; a caller from the other workspace may never reach them.
func (c caller) reaches(targeted bool, scopes ...string) bool {
	if targeted && c.scope == scopeElsewhere {
		return false
	}
	if !targeted && c.scope == scopeElsewhere {
		return true // acting in its own workspace, as a workspace token
	}
	for _, s := range scopes {
		if c.scope == s {
			return true
		}
	}
	return false
}

// matrixRow is one RPC: how to call it against fresh targets, and the
// rule that says who may.
type matrixRow struct {
	call    func(ctx context.Context, f *fixture) error
	allowed func(c caller) bool
}

func atLeast(c caller, r gatepassv1.Role) bool { return c.effective() >= r }

var anyScope = []string{scopeWorkspace, scopeOwn, scopeOther}

// matrixRows is the rule for every issuer and workspace RPC. The test
// fails when an RPC has no row.
var matrixRows = map[string]matrixRow{
	"gatepass.v1.IssuerService.CreateToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.CreateToken(ctx, &gatepassv1.CreateTokenRequest{Name: f.name(), Role: viewer, ProjectId: f.project, NeverExpires: true})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.GetToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: f.target(false)})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.ListTokens": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.IssuerService.DisableToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: f.target(true)})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.BatchDisableTokens": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.BatchDisableTokens(ctx, &gatepassv1.BatchDisableTokensRequest{TokenIds: []string{f.target(true)}})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.BatchRevokeTokens": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.BatchRevokeTokens(ctx, &gatepassv1.BatchRevokeTokensRequest{TokenIds: []string{f.target(true)}})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.ReportLeakedTokens": {
		call: func(ctx context.Context, f *fixture) error {
			// By digest: only callers that could revoke the token act on it;
			// the answer is the same otherwise ("not found"), so the row
			// checks the token's state afterwards.
			d := f.targetDigest()
			resp, err := f.h.issuer.ReportLeakedTokens(ctx, &gatepassv1.ReportLeakedTokensRequest{SecretSha256: [][]byte{d}, SourceUrl: "https://example.com/leak"})
			if err == nil && !resp.GetResults()[0].GetFound() {
				return status.Error(codes.NotFound, "not found")
			}
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.EnableToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: f.disabledTarget()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.RevokeToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: f.target(true), Cascade: true})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.UpdateToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.UpdateToken(ctx, &gatepassv1.UpdateTokenRequest{TokenId: f.target(true), Description: "matrix",
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.RotateToken": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{TokenId: f.target(true), Name: f.name()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace, scopeOwn) },
	},
	"gatepass.v1.IssuerService.ReviewTokens": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.ReviewTokens(ctx, &gatepassv1.ReviewTokensRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.IssuerService.ListAuditEvents": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.GetWorkspace": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.GetWorkspace(ctx, &gatepassv1.GetWorkspaceRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, viewer) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.WorkspaceService.CreateProject": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: f.name()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.ListProjects": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.ListProjects(ctx, &gatepassv1.ListProjectsRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, viewer) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.WorkspaceService.AddMember": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: f.name(), Role: viewer})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.ListMembers": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.ListMembers(ctx, &gatepassv1.ListMembersRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, viewer) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.WorkspaceService.UpdateMemberRole": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: f.member(), Role: tester})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.RemoveMember": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: f.member()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.GetPolicy": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.GetPolicy(ctx, &gatepassv1.GetPolicyRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, viewer) && c.reaches(false, anyScope...) },
	},
	"gatepass.v1.WorkspaceService.UpdatePolicy": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{}})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, owner) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.CreateWebhook": {
		call: func(ctx context.Context, f *fixture) error {
			// A literal public address: the harness delivers nothing.
			_, err := f.h.ws.CreateWebhook(ctx, &gatepassv1.CreateWebhookRequest{Url: "https://203.0.113.10/hooks"})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.ListWebhooks": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.ListWebhooks(ctx, &gatepassv1.ListWebhooksRequest{})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(false, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.DeleteWebhook": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.DeleteWebhook(ctx, &gatepassv1.DeleteWebhookRequest{WebhookId: f.webhook()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace) },
	},
	"gatepass.v1.WorkspaceService.ListWebhookDeliveries": {
		call: func(ctx context.Context, f *fixture) error {
			_, err := f.h.ws.ListWebhookDeliveries(ctx, &gatepassv1.ListWebhookDeliveriesRequest{WebhookId: f.webhook()})
			return err
		},
		allowed: func(c caller) bool { return atLeast(c, admin) && c.reaches(true, scopeWorkspace) },
	},
}

// fixture holds the targets the rows act on, renewed when a call used one.
type fixture struct {
	t       *testing.T
	h       *harness
	owner   context.Context
	project string
	n       int
	tok     string            // an active viewer token in project
	off     string            // a disabled one
	mem     string            // a viewer member
	hook    string            // a webhook
	secrets map[string]string // by token id
	stale   bool              // a call succeeded since: the targets may have changed
}

func (f *fixture) name() string {
	f.n++
	return fmt.Sprintf("matrix-item-%d", f.n)
}

func (f *fixture) newToken() string {
	sec, tok := f.h.mustCreate(f.t, f.h.owner, &gatepassv1.CreateTokenRequest{Name: f.name(), Role: viewer, ProjectId: f.project, NeverExpires: true})
	f.secrets[tok.GetId()] = sec
	return tok.GetId()
}

// targetDigest is the SHA-256 of the target's secret.
func (f *fixture) targetDigest() []byte {
	d := sha256.Sum256([]byte(f.secrets[f.target(true)]))
	return d[:]
}

// renew forgets targets a successful call may have changed.
func (f *fixture) renew() {
	// A context per call: the matrix runs for seconds under the race
	// detector, longer than one call's deadline.
	f.owner = as(f.t, f.h.owner)
	if f.stale {
		f.tok, f.off, f.mem, f.hook, f.stale = "", "", "", "", false
	}
}

// target returns an active viewer token in the project.
func (f *fixture) target(bool) string {
	f.renew()
	if f.tok == "" {
		f.tok = f.newToken()
	}
	return f.tok
}

// disabledTarget returns a disabled viewer token in the project.
func (f *fixture) disabledTarget() string {
	f.renew()
	if f.off == "" {
		f.off = f.newToken()
		if _, err := f.h.issuer.DisableToken(f.owner, &gatepassv1.DisableTokenRequest{TokenId: f.off}); err != nil {
			f.t.Fatal(err)
		}
	}
	return f.off
}

// webhook returns a webhook of the target workspace.
func (f *fixture) webhook() string {
	f.renew()
	if f.hook == "" {
		w, err := f.h.ws.CreateWebhook(f.owner, &gatepassv1.CreateWebhookRequest{Url: "https://203.0.113.10/" + f.name()})
		if err != nil {
			f.t.Fatal(err)
		}
		f.hook = w.GetWebhook().GetId()
	}
	return f.hook
}

// member returns an active viewer member.
func (f *fixture) member() string {
	f.renew()
	if f.mem == "" {
		m, err := f.h.ws.AddMember(f.owner, &gatepassv1.AddMemberRequest{DisplayName: f.name(), Role: viewer})
		if err != nil {
			f.t.Fatal(err)
		}
		f.mem = m.GetMember().GetId()
	}
	return f.mem
}

// anotherWorkspace creates a second workspace with an owner token, as
// bootstrap does for the first.
func anotherWorkspace(t *testing.T, h *harness) string {
	t.Helper()
	d := h.deps
	sec, err := d.Format.Mint()
	if err != nil {
		t.Fatal(err)
	}
	now := d.Now()
	ws := &gatepassv1.Workspace{Id: store.NewID("ws", now), Name: "elsewhere", CreateTime: timestamppb.New(now)}
	m := &gatepassv1.Member{Id: store.NewID("mem", now), WorkspaceId: ws.GetId(), DisplayName: "Other Owner",
		Role: owner, State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE, CreateTime: timestamppb.New(now)}
	err = d.Store.Update(func(tx *store.Tx) error {
		if err := tx.PutWorkspace(ws); err != nil {
			return err
		}
		if err := tx.PutMember(m); err != nil {
			return err
		}
		digest := sec.Digest()
		_, err := tx.PutToken(&gatepassv1.TokenState{SecretSha256: digest[:], Token: &gatepassv1.Token{
			Id: store.NewID("tok", now), Name: "elsewhere-owner", WorkspaceId: ws.GetId(), Role: owner, OwnerId: m.GetId(),
			NeverExpires: true, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, CreateTime: timestamppb.New(now),
		}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sec.String()
}

// makeCallers creates one token per role, scope and state.
func makeCallers(t *testing.T, h *harness, clk *fakeclock.Clock, project, otherProject string) []caller {
	elsewhere := anotherWorkspace(t, h)
	var out []caller
	n := 0
	for _, role := range matrixRoles {
		for _, scope := range matrixScopes {
			for _, state := range matrixStates {
				n++
				admin := h.owner
				if scope == scopeElsewhere {
					admin = elsewhere
				}
				ctx := as(t, admin)
				m, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: fmt.Sprintf("caller %d", n), Role: role})
				if err != nil {
					t.Fatal(err)
				}
				req := &gatepassv1.CreateTokenRequest{Name: fmt.Sprintf("matrix-caller-%d", n), Role: role, OwnerId: m.GetMember().GetId(), NeverExpires: true}
				switch scope {
				case scopeOwn:
					req.ProjectId = project
				case scopeOther:
					req.ProjectId = otherProject
				}
				if state == stateExpired {
					req.NeverExpires, req.ExpireTime = false, timestamppb.New(clk.Now().Add(time.Hour))
				}
				secret, tok := h.mustCreate(t, admin, req)
				var cerr error
				switch state {
				case stateDisabled:
					_, cerr = h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: tok.GetId()})
				case stateRevoked:
					_, cerr = h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: tok.GetId()})
				case stateDemoted:
					if role != viewer {
						_, cerr = h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: m.GetMember().GetId(), Role: viewer})
					}
				case stateRemoved:
					_, cerr = h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: m.GetMember().GetId()})
				}
				if cerr != nil {
					t.Fatalf("caller %s %s %s: %v", role, scope, state, cerr)
				}
				out = append(out, caller{role: role, scope: scope, state: state, secret: secret})
			}
		}
	}
	clk.Add(2 * time.Hour) // the expired callers expire; the rest never do
	return out
}

// TestAuthorizationMatrix calls every issuer and workspace RPC as every
// kind of caller and checks each answer against the RPC's rule: allowed
// calls succeed, the rest are refused (Unauthenticated, PermissionDenied or
// NotFound), never anything else.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	h := newHarnessAt(t, clk.Now)
	owner := as(t, h.owner)
	var projects []string
	for _, name := range []string{"target-project", "other-project"} {
		p, err := h.ws.CreateProject(owner, &gatepassv1.CreateProjectRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		projects = append(projects, p.GetProject().GetId())
	}
	callers := makeCallers(t, h, clk, projects[0], projects[1])
	f := &fixture{t: t, h: h, owner: owner, project: projects[0], secrets: map[string]string{}}

	for _, m := range issuerRPCs(t) {
		name := string(m.FullName())
		row, ok := matrixRows[name]
		if !ok {
			t.Errorf("%s has no row in the authorization matrix", name)
			continue
		}
		allowed := 0
		for _, c := range callers {
			want := row.allowed(c)
			err := row.call(as(t, c.secret), f)
			code := status.Code(err)
			switch {
			case want && code != codes.OK:
				t.Errorf("%s as %v: %v, want allowed", name, c, err)
			case !want && code == codes.OK:
				t.Errorf("%s as %v: allowed, want refused", name, c)
			case !want && code != codes.Unauthenticated && code != codes.PermissionDenied && code != codes.NotFound:
				t.Errorf("%s as %v: %v, want a refusal", name, c, err)
			}
			if code == codes.OK {
				allowed++
				f.stale = true
			}
		}
		t.Logf("%-45s allowed for %3d of %d callers", name, allowed, len(callers))
	}
}
