package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/policy"

	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"

	"github.com/gatepass/gatepass/pkg/fakeclock"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"google.golang.org/protobuf/types/known/durationpb"
)

// newService bootstraps a workspace in a real store on a fake clock and
// returns the service and the owner's principal. No request rules run in
// front: each operation must check what it needs itself.
func newService(t *testing.T) (*Service, access.Principal, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	st, _ := storetest.Open(t, clk.Now)
	notified := 0
	s := &Service{Store: st, Now: clk.Now, Notify: func() { notified++ }}
	secret, err := s.Bootstrap(Bootstrap{Workspace: "acme", Owner: "olivia"})
	if err != nil {
		t.Fatal(err)
	}
	if notified != 1 {
		t.Fatalf("bootstrap notified the publisher %d times", notified)
	}
	sec, err := token.Format{}.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	var p access.Principal
	err = st.View(func(tx *store.Tx) error {
		ts, err := tx.TokenByDigest(sec.Digest())
		t := ts.GetToken()
		p = access.Principal{TokenID: t.GetId(), MemberID: t.GetOwnerId(), WorkspaceID: t.GetWorkspaceId(), Role: access.RoleOwner}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, clk
}

func TestCreateChecksWhatTheDomainNeeds(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	ok := NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true}
	if _, err := s.Create(owner, ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		p       access.Principal
		n       NewToken
		wantErr error
	}{
		{"name taken", owner, ok, ErrNameTaken},
		{"viewer may not grant", access.Principal{WorkspaceID: owner.WorkspaceID, MemberID: owner.MemberID, Role: access.RoleViewer},
			NewToken{Name: "nightly-test-sync", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true}, access.ErrForbidden},
		{"unknown owner", owner, NewToken{Name: "nightly-test-sync", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true, OwnerID: "mem_0000000000000000000000"}, store.ErrNotFound},
		{"unknown project", owner, NewToken{Name: "nightly-test-sync", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true, ProjectID: "prj_0000000000000000000000"}, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Create(tt.p, tt.n); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestChangesFollowTheStateMachine(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	c, err := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Token.GetId()
	steps := []struct {
		a       access.Action
		want    gatepassv1.TokenStatus
		wantErr error
	}{
		{access.Enable, 0, access.ErrIllegalTransition},
		{access.Disable, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED, nil},
		{access.Enable, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, nil},
		{access.Revoke, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED, nil},
		{access.Enable, 0, access.ErrIllegalTransition},
	}
	for _, step := range steps {
		got, err := s.Change(owner, id, "test", step.a)
		if !errors.Is(err, step.wantErr) {
			t.Fatalf("%s: err = %v, want %v", step.a, err, step.wantErr)
		}
		if err == nil && (got.Token.GetStatus() != step.want || got.EventID == "") {
			t.Fatalf("%s: status %v, event %q", step.a, got.Token.GetStatus(), got.EventID)
		}
	}
}

// TestScheduledRevocationFiresOnTheClock: a rotation's scheduled disable
// and revoke fire when the clock passes them, not before.
func TestScheduledRevocationFiresOnTheClock(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	c, err := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Rotate(owner, Rotation{TokenID: c.Token.GetId(), DisableOldAfter: durationpb.New(time.Hour), RevokeOldAfter: durationpb.New(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Old.GetReplacedByTokenId() != r.Token.GetId() || r.Token.GetReplacesTokenId() != c.Token.GetId() {
		t.Fatalf("rotation links: %v -> %v", r.Old, r.Token)
	}
	status := func() gatepassv1.TokenStatus {
		var st gatepassv1.TokenStatus
		_ = s.Store.View(func(tx *store.Tx) error {
			ts, err := tx.Token(c.Token.GetId())
			st = ts.GetToken().GetStatus()
			return err
		})
		return st
	}
	for _, step := range []struct {
		after time.Duration
		want  gatepassv1.TokenStatus
	}{
		{59 * time.Minute, gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE},
		{time.Minute, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED},
		{time.Hour, gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED},
	} {
		clk.Add(step.after)
		if err := s.ApplyDue(); err != nil {
			t.Fatal(err)
		}
		if got := status(); got != step.want {
			t.Fatalf("at +%v: %v, want %v", step.after, got, step.want)
		}
	}
}

// TestDemotionCapsTokens: lowering a member's role caps the tokens they
// own in the same transaction, each with its event.
func TestDemotionCapsTokens(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	m, err := s.AddMember(owner, "ada", "", gatepassv1.Role_ROLE_ADMIN)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Create(owner, NewToken{Name: "ada-release-bot", Role: gatepassv1.Role_ROLE_ADMIN, NeverExpires: true, OwnerID: m.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := s.SetMemberRole(owner, m.GetId(), gatepassv1.Role_ROLE_TESTER)
	if err != nil {
		t.Fatal(err)
	}
	if len(mc.Events) != 1 {
		t.Fatalf("events = %v, want one capped token", mc.Events)
	}
	_ = s.Store.View(func(tx *store.Tx) error {
		ts, err := tx.Token(c.Token.GetId())
		if err != nil || ts.GetToken().GetRole() != gatepassv1.Role_ROLE_TESTER {
			t.Fatalf("token after demotion: %v %v", ts.GetToken().GetRole(), err)
		}
		return nil
	})
	if _, err := s.RemoveMember(owner, owner.MemberID); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("removing the last owner: %v", err)
	}
}

// TestSchedulesFireAsTheClockPasses: RunSchedules applies a rotation's
// scheduled revocation when the injected clock's ticker fires past it: an
// hour passes in a step, with no sleeping.
func TestSchedulesFireAsTheClockPasses(t *testing.T) {
	t.Parallel()
	s, owner, clk := newService(t)
	c, err := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(owner, Rotation{TokenID: c.Token.GetId(), RevokeOldAfter: durationpb.New(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ticks, stop := clk.Tick(time.Minute)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunSchedules(ctx, ticks); close(done) }()
	defer func() { cancel(); <-done }()
	clk.Add(time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st gatepassv1.TokenStatus
		_ = s.Store.View(func(tx *store.Tx) error {
			ts, err := tx.Token(c.Token.GetId())
			st = ts.GetToken().GetStatus()
			return err
		})
		if st == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v an hour after the scheduled revocation", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOperationsCheckTheirOwnInput: with no request rules in front, an
// operation still refuses what it cannot work with, naming the field.
func TestOperationsCheckTheirOwnInput(t *testing.T) {
	t.Parallel()
	s, owner, _ := newService(t)
	field := func(err error) string {
		var v *policy.Violation
		if errors.As(err, &v) {
			return v.Field
		}
		return ""
	}
	_, errCreate := s.Create(owner, NewToken{Name: " ", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	_, errRole := s.Create(owner, NewToken{Name: "ci-regression-runner", Role: 42, NeverExpires: true})
	_, errMember := s.AddMember(owner, "", "", gatepassv1.Role_ROLE_VIEWER)
	_, errProject := s.CreateProject(owner, "")
	_, errPolicy := s.SetPolicy(owner, nil)
	_, errRotate := s.Rotate(owner, Rotation{TokenID: owner.TokenID, RevokeOldAfter: durationpb.New(-time.Hour)})
	for want, err := range map[string]error{
		"name": errCreate, "role": errRole, "display_name": errMember, "policy": errPolicy, "revoke_old_after": errRotate,
	} {
		if field(err) != want {
			t.Errorf("%s: %v", want, err)
		}
	}
	if field(errProject) != "name" {
		t.Errorf("project name: %v", errProject)
	}
}
