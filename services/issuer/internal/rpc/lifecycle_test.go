package rpc

import (
	"strings"
	"testing"
	"time"

	"github.com/gatepass/gatepass/pkg/event"
	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/issuer/internal/usage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRotationSchedulesTheOldTokensEnd(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	h := newHarnessAt(t, clk.Now)
	ctx := as(t, h.owner)
	_, old := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "nightly-test-sync", Role: tester,
		ExpireTime: timestamppb.New(clk.Now().Add(30 * 24 * time.Hour)), AllowedCidrs: []string{"10.0.0.0/8"}})
	resp, err := h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{
		TokenId: old.GetId(), DisableOldAfter: durationpb.New(time.Hour), RevokeOldAfter: durationpb.New(48 * time.Hour), Reason: "rotation drill",
	})
	if err != nil {
		t.Fatal(err)
	}
	fresh := resp.GetToken()
	if resp.GetSecret() == "" || fresh.GetReplacesTokenId() != old.GetId() || resp.GetOldToken().GetReplacedByTokenId() != fresh.GetId() {
		t.Fatalf("rotation links: %v / %v", fresh, resp.GetOldToken())
	}
	if fresh.GetRole() != old.GetRole() || fresh.GetOwnerId() != old.GetOwnerId() || fresh.GetAllowedCidrs()[0] != "10.0.0.0/8" || fresh.GetName() != old.GetName() {
		t.Fatalf("replacement differs in access: %v", fresh)
	}
	if lifetime := fresh.GetExpireTime().AsTime().Sub(clk.Now()); lifetime < 29*24*time.Hour || lifetime > 31*24*time.Hour {
		t.Fatalf("replacement lifetime %v, want the old one's 30 days", lifetime)
	}
	if resp.GetOldToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("the old token must stay active until its scheduled end")
	}
	if _, err := h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{TokenId: old.GetId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("rotating a rotated token twice: %v", err)
	}
	status := func() gatepassv1.TokenStatus {
		g, err := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: old.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		return g.GetToken().GetStatus()
	}
	clk.Add(59 * time.Minute)
	if err := h.deps.Lifecycle.ApplyDue(); err != nil || status() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatalf("disabled early: %v %v", status(), err)
	}
	clk.Add(time.Minute)
	if err := h.deps.Lifecycle.ApplyDue(); err != nil || status() != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED {
		t.Fatalf("not disabled when due: %v %v", status(), err)
	}
	clk.Add(47 * time.Hour)
	if err := h.deps.Lifecycle.ApplyDue(); err != nil || status() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
		t.Fatalf("not revoked when due: %v %v", status(), err)
	}
	if g, _ := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: fresh.GetId()}); g.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("the replacement was touched")
	}
}

// TestManualDisableCancelsTheSchedule: disabling a token by hand cancels
// its scheduled disable, so enabling it again is not undone later by the
// old schedule (the first version disabled it anyway).
func TestManualDisableCancelsTheSchedule(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	h := newHarnessAt(t, clk.Now)
	ctx := as(t, h.owner)
	_, old := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "nightly-report-sync", Role: tester, ExpireTime: timestamppb.New(clk.Now().Add(30 * 24 * time.Hour))})
	if _, err := h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{TokenId: old.GetId(), DisableOldAfter: durationpb.New(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, change := range []func() error{
		func() error {
			_, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: old.GetId(), Reason: "early"})
			return err
		},
		func() error {
			_, err := h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: old.GetId(), Reason: "still needed"})
			return err
		},
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Hour)
	if err := h.deps.Lifecycle.ApplyDue(); err != nil {
		t.Fatal(err)
	}
	if g, _ := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: old.GetId()}); g.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatalf("a cancelled schedule disabled the token: %v", g.GetToken().GetStatus())
	}
}

func TestSelfRotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	selfSecret, self := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "pipeline-self", Role: tester, NeverExpires: true, SelfRotate: true})
	plainSecret, plain := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "pipeline-plain", Role: tester, NeverExpires: true})
	resp, err := h.issuer.RotateToken(as(t, selfSecret), &gatepassv1.RotateTokenRequest{TokenId: self.GetId(), RevokeOldAfter: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatalf("self-rotation refused: %v", err)
	}
	if !resp.GetToken().GetSelfRotate() || !resp.GetToken().GetNeverExpires() {
		t.Fatalf("replacement lost self_rotate or expiry choice: %v", resp.GetToken())
	}
	// The new secret works for the next rotation; the old one may not rotate
	// again. However long the caller asks, a self-rotation ends the old
	// token within the workspace's overlap (7 days by default): a leaked
	// token cannot mint a lasting second credential.
	second, err := h.issuer.RotateToken(as(t, resp.GetSecret()), &gatepassv1.RotateTokenRequest{TokenId: resp.GetToken().GetId(), RevokeOldAfter: durationpb.New(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatalf("second self-rotation: %v", err)
	}
	if at := second.GetOldToken().GetScheduledRevokeTime(); at == nil || at.AsTime().After(time.Now().Add(7*24*time.Hour)) {
		t.Fatalf("self-rotation left the old token's end at %v", at)
	}
	_, err = h.issuer.RotateToken(as(t, resp.GetSecret()), &gatepassv1.RotateTokenRequest{TokenId: resp.GetToken().GetId()})
	wantCode(t, err, codes.FailedPrecondition) // one live successor at most
	_, err = h.issuer.RotateToken(as(t, plainSecret), &gatepassv1.RotateTokenRequest{TokenId: plain.GetId()})
	wantCode(t, err, codes.PermissionDenied)
	// self_rotate covers only itself.
	_, err = h.issuer.RotateToken(as(t, resp.GetSecret()), &gatepassv1.RotateTokenRequest{TokenId: plain.GetId()})
	wantCode(t, err, codes.PermissionDenied)
	// A token can read itself, for the "confirm it works" step, but nothing else.
	if _, err := h.issuer.GetToken(as(t, plainSecret), &gatepassv1.GetTokenRequest{TokenId: plain.GetId()}); err != nil {
		t.Fatalf("token reading itself: %v", err)
	}
	_, err = h.issuer.GetToken(as(t, plainSecret), &gatepassv1.GetTokenRequest{TokenId: self.GetId()})
	wantCode(t, err, codes.PermissionDenied) // Revoking the first token with cascade revokes the whole chain.
	rev, err := h.issuer.RevokeToken(as(t, h.owner), &gatepassv1.RevokeTokenRequest{TokenId: self.GetId(), Reason: "leaked", Cascade: true})
	if err != nil || len(rev.GetRevokedSuccessorIds()) != 2 || rev.GetReceipt().GetSequence() == 0 {
		t.Fatalf("cascade: %v %v", rev, err)
	}
	for _, id := range []string{self.GetId(), resp.GetToken().GetId(), second.GetToken().GetId()} {
		g, _ := h.issuer.GetToken(as(t, h.owner), &gatepassv1.GetTokenRequest{TokenId: id})
		if g.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			t.Fatalf("%s after the cascade: %v", id, g.GetToken().GetStatus())
		}
	}
}

func TestPolicyRejections(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	day := 24 * time.Hour
	create := func(req *gatepassv1.CreateTokenRequest) (*gatepassv1.CreateTokenResponse, error) {
		if req.Role == 0 {
			req.Role = viewer
		}
		return h.issuer.CreateToken(ctx, req)
	}
	// Names: vague names are refused; live names are unique, case- and
	// separator-insensitively; a revoked token frees its name.
	for _, n := range []string{"token", "New Token", "AUTOMATION", "api"} {
		_, err := create(&gatepassv1.CreateTokenRequest{Name: n, NeverExpires: true})
		if status.Code(err) != codes.InvalidArgument || violatedField(err) != "name" {
			t.Errorf("vague name %q: %v", n, err)
		}
	}
	first, err := create(&gatepassv1.CreateTokenRequest{Name: "ci-regression-runner", NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = create(&gatepassv1.CreateTokenRequest{Name: "CI_Regression_Runner", NeverExpires: true})
	wantCode(t, err, codes.AlreadyExists)
	if _, err := h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: first.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := create(&gatepassv1.CreateTokenRequest{Name: "ci-regression-runner", NeverExpires: true}); err != nil {
		t.Fatalf("name of a revoked token not reusable: %v", err)
	}

	// Expiry policy.
	if _, err := h.ws.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{
		DefaultLifetime: durationpb.New(30 * day), MaxLifetime: durationpb.New(90 * day), ForbidNeverExpires: true,
		VagueNameAction: gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_FLAG,
	}}); err != nil {
		t.Fatal(err)
	}
	_, err = create(&gatepassv1.CreateTokenRequest{Name: "forever-sync", NeverExpires: true})
	if status.Code(err) != codes.InvalidArgument || violatedField(err) != "never_expires" {
		t.Errorf("never expires under a policy that forbids it: %v", err)
	}
	_, err = create(&gatepassv1.CreateTokenRequest{Name: "long-sync", ExpireTime: timestamppb.New(time.Now().Add(91 * day))})
	if status.Code(err) != codes.InvalidArgument || violatedField(err) != "expire_time" || !strings.Contains(err.Error(), "maximum lifetime") {
		t.Errorf("beyond max lifetime: %v", err)
	}
	def, err := create(&gatepassv1.CreateTokenRequest{Name: "default-sync"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(def.GetToken().GetExpireTime().AsTime()); d < 29*day || d > 30*day {
		t.Errorf("default lifetime gave %v", d)
	}
	// Flag mode: the vague name passes and review flags it.
	vague, err := create(&gatepassv1.CreateTokenRequest{Name: "token", ExpireTime: timestamppb.New(time.Now().Add(day))})
	if err != nil {
		t.Fatalf("vague name in flag mode: %v", err)
	}
	rev, err := h.issuer.ReviewTokens(ctx, &gatepassv1.ReviewTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range rev.GetFindings() {
		found = found || (f.GetTokenId() == vague.GetToken().GetId() && f.GetType() == gatepassv1.FindingType_FINDING_TYPE_VAGUE_NAME)
	}
	if !found {
		t.Errorf("review did not flag the vague name: %v", rev.GetFindings())
	}
	// Rotation obeys the policy too.
	_, err = h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{TokenId: def.GetToken().GetId(), ExpireTime: timestamppb.New(time.Now().Add(100 * day))})
	if status.Code(err) != codes.InvalidArgument || violatedField(err) != "expire_time" {
		t.Errorf("rotation beyond max lifetime: %v", err)
	}
	// Only an owner sets the policy, and it is validated.
	adminSecret, _ := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "policy-admin", Role: admin, ExpireTime: timestamppb.New(time.Now().Add(day))})
	_, err = h.ws.UpdatePolicy(as(t, adminSecret), &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{}})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.ws.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{DefaultLifetime: durationpb.New(time.Second)}})
	if violatedField(err) != "policy.default_lifetime" {
		t.Errorf("bad policy: %v", err)
	}
}

func TestOwnershipTransfer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	ada, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Ada", Role: admin})
	if err != nil {
		t.Fatal(err)
	}
	low, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Vic", Role: viewer})
	if err != nil {
		t.Fatal(err)
	}
	_, tok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "release-bot", Role: tester, NeverExpires: true})
	mask := &fieldmaskpb.FieldMask{Paths: []string{"owner_id", "description"}}
	up, err := h.issuer.UpdateToken(ctx, &gatepassv1.UpdateTokenRequest{TokenId: tok.GetId(), UpdateMask: mask, OwnerId: ada.GetMember().GetId(), Description: "Ada's release pipeline"})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetToken().GetOwnerId() != ada.GetMember().GetId() || up.GetToken().GetVersion() != tok.GetVersion()+1 {
		t.Fatalf("transfer: %v", up.GetToken())
	}
	_, err = h.issuer.UpdateToken(ctx, &gatepassv1.UpdateTokenRequest{TokenId: tok.GetId(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}}, OwnerId: low.GetMember().GetId()})
	wantCode(t, err, codes.FailedPrecondition) // a viewer cannot own a tester token
	_, err = h.issuer.UpdateToken(ctx, &gatepassv1.UpdateTokenRequest{TokenId: tok.GetId(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role"}}})
	if violatedField(err) != "update_mask" {
		t.Fatalf("updating the role: %v", err)
	}
	audit, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{TargetId: tok.GetId(), Action: "token.update"})
	if err != nil || len(audit.GetEvents()) != 1 || !strings.Contains(audit.GetEvents()[0].GetDetails()["changes"], ada.GetMember().GetId()) {
		t.Fatalf("transfer audit: %v %v", audit, err)
	}

	// With the policy keeping them, a removed member's tokens stay active
	// and review flags them.
	if _, err := h.ws.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{KeepTokensOfRemovedMembers: true}}); err != nil {
		t.Fatal(err)
	}
	kept, err := h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: ada.GetMember().GetId()})
	if err != nil || kept.GetTokensDisabled() != 0 {
		t.Fatalf("remove with the keep policy: %v %v", kept, err)
	}
	g, _ := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: tok.GetId()})
	if g.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("token of a removed member changed although the policy keeps it")
	}
	rev, _ := h.issuer.ReviewTokens(ctx, &gatepassv1.ReviewTokensRequest{MinSeverity: gatepassv1.Severity_SEVERITY_HIGH})
	if len(rev.GetFindings()) != 1 || rev.GetFindings()[0].GetType() != gatepassv1.FindingType_FINDING_TYPE_OWNER_INACTIVE {
		t.Fatalf("review after removal: %v", rev.GetFindings())
	}
	// By default, removing a member disables their tokens, with a receipt.
	if _, err := h.ws.UpdatePolicy(ctx, &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{}}); err != nil {
		t.Fatal(err)
	}
	bob, _ := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Bob", Role: admin})
	_, bobs := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "bobs-sync", Role: tester, NeverExpires: true, OwnerId: bob.GetMember().GetId()})
	removed, err := h.ws.RemoveMember(ctx, &gatepassv1.RemoveMemberRequest{MemberId: bob.GetMember().GetId()})
	if err != nil || removed.GetTokensDisabled() != 1 || removed.GetReceipt().GetSequence() == 0 {
		t.Fatalf("remove: %v %v", removed, err)
	}
	g, _ = h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: bobs.GetId()})
	if g.GetToken().GetStatus() != gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED {
		t.Fatalf("removing a member left their token %v", g.GetToken().GetStatus())
	}
}

// TestDemotionCapsTokens: lowering a member's role caps the role of every
// token they own, so a demoted admin's admin tokens no longer pass admin
// checks at the validators (the first version left them untouched).
func TestDemotionCapsTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	ada, err := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Ada", Role: admin})
	if err != nil {
		t.Fatal(err)
	}
	_, high := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ada-admin-sync", Role: admin, NeverExpires: true, OwnerId: ada.GetMember().GetId()})
	_, low := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "ada-dashboard", Role: gatepassv1.Role_ROLE_VIEWER, NeverExpires: true, OwnerId: ada.GetMember().GetId()})
	resp, err := h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: ada.GetMember().GetId(), Role: tester})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTokensCapped() != 1 || resp.GetReceipt().GetSequence() == 0 {
		t.Fatalf("demotion: %v", resp)
	}
	for id, want := range map[string]gatepassv1.Role{high.GetId(): tester, low.GetId(): gatepassv1.Role_ROLE_VIEWER} {
		g, err := h.issuer.GetToken(ctx, &gatepassv1.GetTokenRequest{TokenId: id})
		if err != nil || g.GetToken().GetRole() != want {
			t.Fatalf("token %s after demotion: %v %v", id, g.GetToken().GetRole(), err)
		}
	}
	audit, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{TargetId: high.GetId(), Action: "token.role_capped"})
	if err != nil || len(audit.GetEvents()) != 1 {
		t.Fatalf("cap audit: %v %v", audit, err)
	}
	// Promoting again gives nothing back: a new token is a new decision.
	if resp, err := h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: ada.GetMember().GetId(), Role: admin}); err != nil || resp.GetTokensCapped() != 0 {
		t.Fatalf("promotion: %v %v", resp, err)
	}
}

// TestAuditTrail runs a scripted sequence of changes and checks the audit
// trail lists every one, newest first, with who, what and why, paginated.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := as(t, h.owner)
	prj, _ := h.ws.CreateProject(ctx, &gatepassv1.CreateProjectRequest{Name: "checkout"})
	m, _ := h.ws.AddMember(ctx, &gatepassv1.AddMemberRequest{DisplayName: "Ada", Role: admin})
	_, tok := h.mustCreate(t, h.owner, &gatepassv1.CreateTokenRequest{Name: "audit-me", Role: tester, NeverExpires: true, ProjectId: prj.GetProject().GetId()})
	steps := []func() error{
		func() error {
			_, err := h.issuer.DisableToken(ctx, &gatepassv1.DisableTokenRequest{TokenId: tok.GetId(), Reason: "investigating"})
			return err
		},
		func() error {
			_, err := h.issuer.EnableToken(ctx, &gatepassv1.EnableTokenRequest{TokenId: tok.GetId(), Reason: "false alarm"})
			return err
		},
		func() error {
			_, err := h.issuer.RotateToken(ctx, &gatepassv1.RotateTokenRequest{TokenId: tok.GetId(), Reason: "quarterly"})
			return err
		},
		func() error {
			_, err := h.issuer.RevokeToken(ctx, &gatepassv1.RevokeTokenRequest{TokenId: tok.GetId(), Reason: "rotated out"})
			return err
		},
		func() error {
			_, err := h.ws.UpdateMemberRole(ctx, &gatepassv1.UpdateMemberRoleRequest{MemberId: m.GetMember().GetId(), Role: viewer})
			return err
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// A dead-token attempt reported by a validator joins the trail.
	if err := (&usage.Ingester{Store: h.deps.Store, Now: time.Now}).Ingest(&gatepassv1.UsageReport{ValidatorId: "v1", Tokens: []*gatepassv1.TokenUsage{{
		TokenId: tok.GetId(), Attempts: []*gatepassv1.Attempt{{Reason: gatepassv1.Reason_REASON_REVOKED, ClientIp: "10.0.0.9", Count: 3, LastTime: timestamppb.Now()}},
	}}}); err != nil {
		t.Fatal(err)
	}
	var got []*gatepassv1.AuditEvent
	page := ""
	for range 20 {
		resp, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{PageSize: 3, PageToken: page})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetEvents()...)
		if page = resp.GetNextPageToken(); page == "" {
			break
		}
	}
	var actions []string
	for _, a := range got {
		actions = append(actions, a.GetAction())
		if a.GetId() == "" || a.GetTime() == nil || a.GetWorkspaceId() == "" {
			t.Errorf("incomplete audit event %v", a)
		}
	}
	want := "token.attempt,member.update_role,token.revoke,token.rotate,token.create,token.enable,token.disable,token.create,member.add,project.create,token.create"
	if strings.Join(actions, ",") != want {
		t.Fatalf("audit trail:\n got %s\nwant %s", strings.Join(actions, ","), want)
	}
	if got[2].GetReason() != "rotated out" || got[2].GetActorTokenId() == "" || got[2].GetActorMemberId() == "" {
		t.Errorf("revoke event lacks who or why: %v", got[2])
	}
	if got[0].GetDetails()["client_ip"] != "10.0.0.9" || got[0].GetDetails()["count"] != "3" || got[0].GetDetails()["validator"] != "v1" {
		t.Errorf("attempt details: %v", got[0].GetDetails())
	}
	filtered, err := h.issuer.ListAuditEvents(ctx, &gatepassv1.ListAuditEventsRequest{TargetId: tok.GetId(), Action: "token.*"})
	if err != nil || len(filtered.GetEvents()) != 6 {
		t.Fatalf("filtered trail: %d events, %v", len(filtered.GetEvents()), err)
	}
	for _, a := range got {
		for _, v := range a.GetDetails() {
			if strings.HasPrefix(v, "gp_") {
				t.Fatalf("a secret in the audit trail: %v", a)
			}
		}
	}

	// The same events go out, signed, on the audit stream.
	h.deps.Publisher.Notify()
	verifier, err := event.NewVerifier(h.signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stream, err := h.js.Stream(t.Context(), event.AuditStreamName)
		if err == nil {
			info, err := stream.Info(t.Context())
			if err == nil && info.State.Msgs == uint64(len(got)) {
				msg, err := stream.GetLastMsgForSubject(t.Context(), event.AuditSubjects)
				if err != nil {
					t.Fatal(err)
				}
				ev, err := verifier.Open(msg.Data)
				if err != nil || ev.GetAudit().GetAction() != "token.attempt" {
					t.Fatalf("last audit message: %v %v", ev, err)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit stream does not hold the %d events", len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
