package rpc

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/gatepass/gatepass/pkg/event"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func wantCode(t testing.TB, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

var (
	viewer  = gatepassv1.Role_ROLE_VIEWER
	tester  = gatepassv1.Role_ROLE_TESTER
	admin   = gatepassv1.Role_ROLE_ADMIN
	owner   = gatepassv1.Role_ROLE_OWNER
	forever = true
)

func TestLifecycleStateMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, tok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "nightly-test-sync", Role: tester, NeverExpires: forever})
	id := tok.GetId()
	ctx := as(t, h.owner)

	d, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: id, Reason: "pause"})
	if err != nil || d.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED || d.GetToken().GetVersion() != 2 {
		t.Fatalf("disable: %v %v", d, err)
	}
	_, err = h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: id})
	wantCode(t, err, codes.FailedPrecondition)
	e, err := h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: id})
	if err != nil || e.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatalf("enable: %v %v", e, err)
	}
	r, err := h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: id, Reason: "leaked"})
	if err != nil || r.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED || r.GetToken().GetRevokeTime() == nil {
		t.Fatalf("revoke: %v %v", r, err)
	}
	if r.GetReceipt().GetSequence() == 0 {
		t.Fatalf("revoke was not published: %v", r.GetReceipt())
	}
	_, err = h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: id})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: id})
	wantCode(t, err, codes.FailedPrecondition)

	trail, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{TargetId: id})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range slices.Backward(trail.GetEvents()) { // oldest first
		actions = append(actions, a.GetAction())
	}
	if got := strings.Join(actions, ","); got != "token.create,token.disable,token.enable,token.revoke" {
		t.Fatalf("audit trail = %s", got)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	secret, tok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ci-admin", Role: admin, NeverExpires: forever})
	for name, cred := range map[string]string{
		"none":      "",
		"malformed": "gp_nope",
		"unknown":   "gp_" + strings.Repeat("A", 36),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := as(t, cred)
			if cred == "" {
				ctx = t.Context()
			}
			_, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{})
			wantCode(t, err, codes.Unauthenticated)
		})
	}
	if _, err := h.issuer.ListTokens(as(t, secret), &gatepassv1.ListTokensRequest{}); err != nil {
		t.Fatalf("active admin token refused: %v", err)
	}
	if _, err := h.issuer.DisableToken(as(t, h.owner), &gatepassv1.DisableTokenRequest{TokenId: tok.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err := h.issuer.ListTokens(as(t, secret), &gatepassv1.ListTokensRequest{})
	wantCode(t, err, codes.Unauthenticated)
	if strings.Contains(h.logs.String(), secret) || strings.Contains(h.logs.String(), h.owner) {
		t.Fatal("a secret reached the logs")
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	p1, err := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: "checkout"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	adminSecret, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ws-admin", Role: admin, NeverExpires: forever})
	maintSecret, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ws-maintainer", Role: gatepassv1.Role_ROLE_MAINTAINER, NeverExpires: forever})
	prjAdmin, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "p1-admin", Role: admin, ProjectId: p1.GetProject().GetId(), NeverExpires: forever})
	_, ownerTok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "owner-two", Role: owner, NeverExpires: forever})

	// A project in a second workspace, made directly in the store.
	var foreign *gatepassv1.Project
	err = h.deps.Store.Update(func(tx *store.Tx) error {
		foreign = &gatepassv1.Project{Id: store.NewID("prj", time.Now()), WorkspaceId: store.NewID("ws", time.Now()), Name: "foreign"}
		_, err := tx.PutProject(foreign)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		caller string
		req    *gatepassv1.CreateTokenRequest
		want   codes.Code
	}{
		{"admin creates admin", adminSecret, &gatepassv1.CreateTokenRequest{Name: "ci-a", Role: admin, NeverExpires: forever}, codes.OK},
		{"admin above own role", adminSecret, &gatepassv1.CreateTokenRequest{Name: "ci-b", Role: owner, NeverExpires: forever}, codes.PermissionDenied},
		{"maintainer cannot manage", maintSecret, &gatepassv1.CreateTokenRequest{Name: "ci-c", Role: viewer, NeverExpires: forever}, codes.PermissionDenied},
		{"project admin in own project", prjAdmin, &gatepassv1.CreateTokenRequest{Name: "ci-d", Role: tester, ProjectId: p1.GetProject().GetId(), NeverExpires: forever}, codes.OK},
		{"project admin in other project", prjAdmin, &gatepassv1.CreateTokenRequest{Name: "ci-e", Role: tester, ProjectId: p2.GetProject().GetId(), NeverExpires: forever}, codes.PermissionDenied},
		{"project admin makes workspace token", prjAdmin, &gatepassv1.CreateTokenRequest{Name: "ci-f", Role: tester, NeverExpires: forever}, codes.PermissionDenied},
		{"project of another workspace", h.owner, &gatepassv1.CreateTokenRequest{Name: "ci-g", Role: tester, ProjectId: foreign.GetId(), NeverExpires: forever}, codes.PermissionDenied},
		{"unknown project", h.owner, &gatepassv1.CreateTokenRequest{Name: "ci-h", Role: tester, ProjectId: store.NewID("prj", time.Now()), NeverExpires: forever}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.issuer.CreateToken(as(t, tt.caller), tt.req)
			wantCode(t, err, tt.want)
		})
	}

	// Lifecycle changes cannot reach above the caller's role or scope.
	_, err = h.issuer.DisableToken(as(t, adminSecret), &gatepassv1.DisableTokenRequest{TokenId: ownerTok.GetId()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.issuer.GetToken(as(t, prjAdmin), &gatepassv1.GetTokenRequest{TokenId: ownerTok.GetId()})
	wantCode(t, err, codes.NotFound)
	list, err := h.issuer.ListTokens(as(t, prjAdmin), &gatepassv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range list.GetTokens() {
		if tk.GetProjectId() != p1.GetProject().GetId() {
			t.Fatalf("project admin sees token %s of project %q", tk.GetId(), tk.GetProjectId())
		}
	}
	if len(list.GetTokens()) != 2 {
		t.Fatalf("project admin sees %d tokens, want 2", len(list.GetTokens()))
	}
}

func TestMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	m, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Ada", Email: "ada@example.com", Role: admin})
	if err != nil {
		t.Fatal(err)
	}
	// A token owned by Ada, used by Ada: she cannot promote herself to owner.
	adaSecret, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ada-admin", Role: admin, OwnerId: m.GetMember().GetId(), NeverExpires: forever})
	_, err = h.ws.UpdateMemberRole(as(t, adaSecret), &gatepassv1.UpdateMemberRoleRequest{MemberId: m.GetMember().GetId(), Role: owner})
	wantCode(t, err, codes.PermissionDenied)
	// A token cannot be given a role above its owner's.
	_, err = h.issuer.CreateToken(ctx, &gatepassv1.CreateTokenRequest{Name: "ada-owner", Role: owner, OwnerId: m.GetMember().GetId(), NeverExpires: forever})
	wantCode(t, err, codes.FailedPrecondition)
	// Demoting Ada caps what her token can do at once.
	if _, err := h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: m.GetMember().GetId(), Role: viewer}); err != nil {
		t.Fatal(err)
	}
	_, err = h.issuer.ListTokens(as(t, adaSecret), &gatepassv1.ListTokensRequest{})
	wantCode(t, err, codes.PermissionDenied)
	// Removing her disables her tokens (the default policy).
	if _, err := h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: m.GetMember().GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = h.ws.ListProjects(as(t, adaSecret), &gatepassv1.ListProjectsRequest{})
	wantCode(t, err, codes.Unauthenticated)
	// The last owner cannot be removed or demoted.
	ws, err := h.ws.ListMembers(ctx, &gatepassv1.ListMembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ownerID string
	for _, mm := range ws.GetMembers() {
		if mm.GetRole() == owner {
			ownerID = mm.GetId()
		}
	}
	_, err = h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: ownerID})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: ownerID, Role: admin})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestListTokensPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, n := range []string{"sync-a", "sync-b", "sync-c", "sync-d", "sync-e"} {
		h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: n, Role: viewer, NeverExpires: forever})
	}
	seen := map[string]bool{}
	pageToken := ""
	for range 10 {
		resp, err := h.issuer.ListTokens(as(t, h.owner), &gatepassv1.ListTokensRequest{PageSize: 2, PageToken: pageToken, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range resp.GetTokens() {
			if seen[tk.GetId()] {
				t.Fatalf("token %s listed twice", tk.GetId())
			}
			seen[tk.GetId()] = true
		}
		if pageToken = resp.GetNextPageToken(); pageToken == "" {
			break
		}
	}
	if len(seen) != 6 { // five plus the bootstrap owner token
		t.Fatalf("listed %d tokens, want 6", len(seen))
	}
}

func TestBootstrapRefusesTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.deps.Lifecycle.Bootstrap(lifecycle.Bootstrap{Workspace: "again", Owner: "x"}); err == nil || !strings.Contains(err.Error(), store.ErrBootstrapped.Error()) {
		t.Fatalf("second bootstrap: %v", err)
	}
}

// TestBadInput sends one bad value per field through the real server and
// checks that the answer is InvalidArgument naming that field.
func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	past := timestamppb.New(time.Now().Add(-time.Hour))
	future := timestamppb.New(time.Now().Add(time.Hour))
	good := func() *gatepassv1.CreateTokenRequest {
		return &gatepassv1.CreateTokenRequest{Name: "ci-runner", Role: tester, ExpireTime: future}
	}
	edit := func(f func(r *gatepassv1.CreateTokenRequest)) *gatepassv1.CreateTokenRequest {
		r := good()
		f(r)
		return r
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"name missing", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Name = "" }))
			return err
		}, "name"},
		{"name too long", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Name = strings.Repeat("n", 65) }))
			return err
		}, "name"},
		{"name control char", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Name = "ci\nrunner" }))
			return err
		}, "name"},
		{"description too long", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Description = strings.Repeat("d", 1025) }))
			return err
		}, "description"},
		{"project id", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.ProjectId = "p1" }))
			return err
		}, "project_id"},
		{"role missing", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Role = 0 }))
			return err
		}, "role"},
		{"role unknown", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.Role = 42 }))
			return err
		}, "role"},
		{"no expiry choice", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.ExpireTime = nil }))
			return err
		}, "expire_time"},
		{"expiry in the past", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.ExpireTime = past }))
			return err
		}, "expire_time"},
		{"both expiry choices", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.NeverExpires = true }))
			return err
		}, "never_expires"},
		{"owner id", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.OwnerId = "tok_0000000000000000000000" }))
			return err
		}, "owner_id"},
		{"cidr", func() error {
			_, err := h.issuer.CreateToken(ctx, edit(func(r *gatepassv1.CreateTokenRequest) { r.AllowedCidrs = []string{"10.0.0.0/8", "10.0.0.1/8"} }))
			return err
		}, "allowed_cidrs[1]"},
		{"get token id", func() error { _, err := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{}); return err }, "token_id"},
		{"list status", func() error { _, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{Status: 9}); return err }, "status"},
		{"list page size", func() error {
			_, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{PageSize: 1001})
			return err
		}, "page_size"},
		{"list page token", func() error {
			_, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{PageToken: "!!"})
			return err
		}, "page_token"},
		{"list owner", func() error {
			_, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{OwnerId: "x"})
			return err
		}, "owner_id"},
		{"list project", func() error {
			_, err := h.issuer.ListTokens(ctx, &gatepassv1.ListTokensRequest{ProjectId: "x"})
			return err
		}, "project_id"},
		{"disable id", func() error {
			_, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: "tok_short"})
			return err
		}, "token_id"},
		{"disable reason", func() error {
			_, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: "tok_0000000000000000000000", Reason: strings.Repeat("r", 513)})
			return err
		}, "reason"},
		{"enable id", func() error { _, err := h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{}); return err }, "token_id"},
		{"revoke id", func() error { _, err := h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{}); return err }, "token_id"},
		{"project name", func() error { _, err := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{}); return err }, "name"},
		{"member name", func() error {
			_, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{Role: viewer})
			return err
		}, "display_name"},
		{"member email", func() error {
			_, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "x", Email: "nope", Role: viewer})
			return err
		}, "email"},
		{"member role", func() error {
			_, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "x"})
			return err
		}, "role"},
		{"update member id", func() error {
			_, err := h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{Role: viewer})
			return err
		}, "member_id"},
		{"remove member id", func() error { _, err := h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{}); return err }, "member_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantCode(t, err, codes.InvalidArgument)
			if got := violatedField(err); got != tt.field {
				t.Fatalf("field = %q, want %q (%v)", got, tt.field, err)
			}
		})
	}
}

func violatedField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// withoutRules are the request fields that carry no buf.validate rule, each
// with the reason. Any other field of any issuer request without a rule
// fails TestEveryRequestFieldHasRules: a new field cannot go unchecked.
var withoutRules = map[protoreflect.FullName]string{
	"gatepass.v1.CreateTokenRequest.never_expires":        "a bool; the message rule relates it to expire_time",
	"gatepass.v1.CreateTokenRequest.self_rotate":          "a bool: any value is valid",
	"gatepass.v1.RevokeTokenRequest.cascade":              "a bool: any value is valid",
	"gatepass.v1.BatchDisableTokensRequest.filter":        "a message: its own fields carry rules; the message rule relates it to token_ids",
	"gatepass.v1.BatchDisableTokensRequest.validate_only": "a bool: any value is valid",
	"gatepass.v1.BatchRevokeTokensRequest.filter":         "a message: its own fields carry rules; the message rule relates it to token_ids",
	"gatepass.v1.BatchRevokeTokensRequest.validate_only":  "a bool: any value is valid",
	"gatepass.v1.ListAuditEventsRequest.start_time":       "any well-formed time bounds a search",
	"gatepass.v1.ListAuditEventsRequest.end_time":         "any well-formed time bounds a search",
}

// TestEveryRequestFieldHasRules: every field of every issuer request
// carries a buf.validate rule in the proto, or is listed in withoutRules
// with its reason.
func TestEveryRequestFieldHasRules(t *testing.T) {
	t.Parallel()
	for _, m := range issuerRPCs(t) {
		fields := m.Input().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
			has := rules != nil && (rules.GetType() != nil || rules.GetRequired() || len(rules.GetCel()) > 0)
			_, excused := withoutRules[fd.FullName()]
			switch {
			case !has && !excused:
				t.Errorf("%s has no rule in the proto", fd.FullName())
			case has && excused:
				t.Errorf("%s has a rule now: take it out of withoutRules", fd.FullName())
			}
		}
	}
}

// TestRulesUseTheClock: "must be in the future" is judged on the clock the
// server runs on, so a test stepping a fake clock sees its own time.
func TestRulesUseTheClock(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	check := mustRules(t, func() time.Time { return at })
	req := &gatepassv1.CreateTokenRequest{Name: "nightly-test-sync", Role: tester, ExpireTime: timestamppb.New(at.Add(-time.Minute))}
	if err := check(req); violatedField(err) != "expire_time" {
		t.Fatalf("an expiry before the clock: %v", err)
	}
	req.ExpireTime = timestamppb.New(at.Add(time.Minute)) // long past in real time
	if err := check(req); err != nil {
		t.Fatalf("an expiry after the clock: %v", err)
	}
}

// issuerRPCs lists every RPC of the issuer's services, from the registered
// descriptors, so tests notice a new one.
func issuerRPCs(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var out []protoreflect.MethodDescriptor
	for _, svc := range []string{"gatepass.v1.IssuerService", "gatepass.v1.WorkspaceService"} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatal(err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			out = append(out, methods.Get(i))
		}
	}
	return out
}

// TestFreeTextRefusesSecretsAndInvisibleCharacters: a secret pasted into a
// reason is refused without being echoed, and reaches no log, audit record
// or stream message; names refuse control and format characters.
func TestFreeTextRefusesSecretsAndInvisibleCharacters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	secret, tok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "leaky-runner", Role: tester, NeverExpires: forever})
	_, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: tok.GetId(), Reason: "it leaked, the value was " + secret})
	wantCode(t, err, codes.InvalidArgument)
	if violatedField(err) != "reason" || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
	for _, name := range []string{"ci-runner\u202egnp", "zero\u200bwidth-runner", "bell\a-runner"} {
		_, err := h.issuer.CreateToken(ctx, &gatepassv1.CreateTokenRequest{Name: name, Role: tester, NeverExpires: forever})
		if violatedField(err) != "name" {
			t.Errorf("name %q: %v", name, err)
		}
	}
	// A legitimate disable, so the streams hold something.
	if _, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: tok.GetId(), Reason: "rotating"}); err != nil {
		t.Fatal(err)
	}
	audit, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(audit.String(), secret) {
		t.Fatal("the secret reached the audit trail")
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Fatal("the secret reached the logs")
	}
	for _, name := range []string{event.StreamName, event.AuditStreamName} {
		stream, err := h.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := stream.Info(ctx)
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			if m, err := stream.GetMsg(ctx, seq); err == nil && strings.Contains(string(m.Data), secret) {
				t.Fatalf("the secret reached %s", name)
			}
		}
	}
}

// TestMemberEmailsOnlyForAdmins: a viewer token lists members without
// their email addresses.
func TestMemberEmailsOnlyForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	if _, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Ada", Email: "ada@example.com", Role: admin}); err != nil {
		t.Fatal(err)
	}
	viewerSecret, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "team-dashboard", Role: viewer, NeverExpires: forever})
	for secret, want := range map[string]bool{h.owner: true, viewerSecret: false} {
		list, err := h.ws.ListMembers(as(t, secret), &gatepassv1.ListMembersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(list.String(), "ada@example.com"); got != want {
			t.Errorf("email shown: %v, want %v", got, want)
		}
	}
}

// TestListTokensByProjectAndOwner: the project and owner filters read
// their own index, page through it, and list nothing of another
// workspace's or project's.
func TestListTokensByProjectAndOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	p1, err := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: "checkout"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 5 {
		_, tk := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: fmt.Sprintf("checkout-%d", i), Role: viewer, NeverExpires: forever, ProjectId: p1.GetProject().GetId()})
		want[tk.GetId()] = true
		h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: fmt.Sprintf("billing-%d", i), Role: viewer, NeverExpires: forever, ProjectId: p2.GetProject().GetId()})
	}
	list := func(req *gatepassv1.ListTokensRequest) map[string]bool {
		t.Helper()
		seen := map[string]bool{}
		for range 10 {
			req.PageSize = 2
			resp, err := h.issuer.ListTokens(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range resp.GetTokens() {
				if seen[tk.GetId()] {
					t.Fatalf("token %s listed twice", tk.GetId())
				}
				seen[tk.GetId()] = true
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		return seen
	}
	if got := list(&gatepassv1.ListTokensRequest{ProjectId: p1.GetProject().GetId()}); !maps.Equal(got, want) {
		t.Fatalf("project listing: %v, want %v", got, want)
	}
	if got := list(&gatepassv1.ListTokensRequest{ProjectId: p1.GetProject().GetId(), OwnerId: "mem_0000000000000000000000"}); len(got) != 0 {
		t.Fatalf("project and unknown owner: %v", got)
	}
	all := list(&gatepassv1.ListTokensRequest{})
	mine := list(&gatepassv1.ListTokensRequest{OwnerId: ownerOf(t, h)})
	if !maps.Equal(all, mine) || len(all) != 11 {
		t.Fatalf("owner listing %d tokens, workspace %d", len(mine), len(all))
	}
}

// ownerOf returns the member id behind the harness's owner token.
func ownerOf(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := h.issuer.ListTokens(as(t, h.owner), &gatepassv1.ListTokensRequest{PageSize: 1})
	if err != nil || len(resp.GetTokens()) == 0 {
		t.Fatalf("list: %v", err)
	}
	return resp.GetTokens()[0].GetOwnerId()
}
