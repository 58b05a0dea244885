package review

import (
	"strings"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestFixtureWorkspace builds one token per finding, plus a model token
// that must produce none, and checks review finds exactly what it should.
func TestFixtureWorkspace(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }
	in := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	days := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	alice := &gatepassv1.Member{Id: "mem_alice", State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE, Role: gatepassv1.Role_ROLE_ADMIN}
	carol := &gatepassv1.Member{Id: "mem_carol", State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE, Role: gatepassv1.Role_ROLE_VIEWER}
	bob := &gatepassv1.Member{Id: "mem_bob", State: gatepassv1.MemberState_MEMBER_STATE_REMOVED}
	active, disabled := gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED
	// model: a narrow, expiring, recently used project token with a clear name.
	model := func(id, name string) *gatepassv1.Token {
		return &gatepassv1.Token{Id: id, Name: name, ProjectId: "prj_1", Role: gatepassv1.Role_ROLE_TESTER, Status: active,
			OwnerId: "mem_alice", CreateTime: ago(days(100)), ExpireTime: in(days(60))}
	}
	used := func(id string) *gatepassv1.TokenUsage {
		return &gatepassv1.TokenUsage{TokenId: id, UseCount: 10, LastUsedTime: ago(time.Hour), Sources: []string{"10.0.0.1"}}
	}
	edit := func(t *gatepassv1.Token, f func(*gatepassv1.Token)) *gatepassv1.Token { f(t); return t }
	inputs := []Input{
		{model("tok_model", "ci-regression-runner"), used("tok_model"), alice},
		{model("tok_vague", "New Token"), used("tok_vague"), alice},
		{model("tok_orphan", "bobs-nightly-sync"), used("tok_orphan"), bob},
		{edit(model("tok_forever", "forever-sync"), func(t *gatepassv1.Token) { t.ExpireTime, t.NeverExpires = nil, true }), used("tok_forever"), alice},
		{edit(model("tok_soon", "expiring-sync"), func(t *gatepassv1.Token) { t.ExpireTime = in(days(3)) }), used("tok_soon"), alice},
		{edit(model("tok_ws", "workspace-runner"), func(t *gatepassv1.Token) { t.ProjectId = "" }), used("tok_ws"), alice},
		{edit(model("tok_overrole", "over-privileged"), func(t *gatepassv1.Token) { t.Role = gatepassv1.Role_ROLE_MAINTAINER }),
			&gatepassv1.TokenUsage{TokenId: "tok_overrole", UseCount: 5, LastUsedTime: ago(time.Hour), MaxRoleNeeded: gatepassv1.Role_ROLE_VIEWER}, alice},
		{model("tok_idle", "idle-sync"), &gatepassv1.TokenUsage{TokenId: "tok_idle", UseCount: 1, LastUsedTime: ago(days(45))}, alice},
		{edit(model("tok_off", "paused-runner"), func(t *gatepassv1.Token) { t.Status, t.DisableTime = disabled, ago(days(20)) }), nil, alice},
		{edit(model("tok_zombie", "zombie-runner"), func(t *gatepassv1.Token) { t.Status, t.DisableTime = disabled, ago(days(2)) }),
			&gatepassv1.TokenUsage{TokenId: "tok_zombie", Attempts: []*gatepassv1.Attempt{
				{Reason: gatepassv1.Reason_REASON_DISABLED, LastTime: ago(time.Hour), ClientIp: "10.0.0.9", Count: 4},
				{Reason: gatepassv1.Reason_REASON_DISABLED, LastTime: ago(days(3)), ClientIp: "10.0.0.9", Count: 7}, // before the disable
			}}, alice},
		{model("tok_shared", "shared-runner"), &gatepassv1.TokenUsage{TokenId: "tok_shared", UseCount: 9, LastUsedTime: ago(time.Hour),
			Sources: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}}, alice},
		{edit(model("tok_demoted", "demoted-runner"), func(t *gatepassv1.Token) { t.OwnerId = "mem_carol" }), used("tok_demoted"), carol},
		{edit(model("tok_revoked", "token"), func(t *gatepassv1.Token) { t.Status = gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED }), nil, bob},
	}
	flag := &gatepassv1.Policy{VagueNameAction: gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_FLAG}
	got := map[string][]gatepassv1.FindingType{}
	var lastSev gatepassv1.Severity = 99
	for _, f := range Review(inputs, flag, now) {
		got[f.GetTokenId()] = append(got[f.GetTokenId()], f.GetType())
		if f.GetSeverity() > lastSev {
			t.Errorf("findings not sorted by severity")
		}
		lastSev = f.GetSeverity()
		if f.GetMessage() == "" || f.GetSuggestedAction() == 0 || f.GetTokenName() == "" {
			t.Errorf("incomplete finding %v", f)
		}
	}
	want := map[string][]gatepassv1.FindingType{
		"tok_vague":    {gatepassv1.FindingType_FINDING_TYPE_VAGUE_NAME},
		"tok_orphan":   {gatepassv1.FindingType_FINDING_TYPE_OWNER_INACTIVE},
		"tok_forever":  {gatepassv1.FindingType_FINDING_TYPE_NO_EXPIRY},
		"tok_soon":     {gatepassv1.FindingType_FINDING_TYPE_EXPIRING_SOON},
		"tok_ws":       {gatepassv1.FindingType_FINDING_TYPE_BROAD_ACCESS},
		"tok_overrole": {gatepassv1.FindingType_FINDING_TYPE_BROAD_ACCESS},
		"tok_idle":     {gatepassv1.FindingType_FINDING_TYPE_UNUSED},
		"tok_off":      {gatepassv1.FindingType_FINDING_TYPE_DISABLED_LONG},
		"tok_zombie":   {gatepassv1.FindingType_FINDING_TYPE_USED_WHILE_DISABLED},
		"tok_shared":   {gatepassv1.FindingType_FINDING_TYPE_MANY_SOURCES},
		"tok_demoted":  {gatepassv1.FindingType_FINDING_TYPE_OUTRANKS_OWNER},
	}
	for id, w := range want {
		if len(got[id]) != len(w) || got[id][0] != w[0] {
			t.Errorf("%s: findings %v, want %v", id, got[id], w)
		}
	}
	for _, quiet := range []string{"tok_model", "tok_revoked"} {
		if len(got[quiet]) != 0 {
			t.Errorf("%s: unexpected findings %v", quiet, got[quiet])
		}
	}
	// Thresholds are configurable: with 60 unused days, tok_idle is fine.
	relaxed := &gatepassv1.Policy{Review: &gatepassv1.ReviewPolicy{UnusedDays: 60}}
	for _, f := range Review(inputs[7:8], relaxed, now) {
		t.Errorf("relaxed policy still finds %v", f.GetType())
	}
}

// TestBroadAccessNamesTheNarrowing: the finding carries the command that
// narrows the token to what its recorded use needed.
func TestBroadAccessNamesTheNarrowing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tok := &gatepassv1.Token{Id: "tok_wide", Name: "release-bot", Role: gatepassv1.Role_ROLE_ADMIN, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE,
		OwnerId: "mem_a", CreateTime: timestamppb.New(now.Add(-time.Hour)), ExpireTime: timestamppb.New(now.Add(90 * 24 * time.Hour))}
	use := &gatepassv1.TokenUsage{UseCount: 3, LastUsedTime: timestamppb.New(now), MaxRoleNeeded: gatepassv1.Role_ROLE_TESTER, Sources: []string{"10.0.0.7", "2001:db8::1"}}
	owner := &gatepassv1.Member{Id: "mem_a", State: gatepassv1.MemberState_MEMBER_STATE_ACTIVE, Role: gatepassv1.Role_ROLE_OWNER}
	for _, f := range Review([]Input{{tok, use, owner}}, nil, now) {
		if f.GetType() == gatepassv1.FindingType_FINDING_TYPE_BROAD_ACCESS {
			want := "gatepassctl token update tok_wide --role tester --cidr 10.0.0.7/32 --cidr 2001:db8::1/128"
			if !strings.Contains(f.GetMessage(), want) {
				t.Fatalf("message %q lacks %q", f.GetMessage(), want)
			}
			return
		}
	}
	t.Fatal("no broad-access finding")
}
