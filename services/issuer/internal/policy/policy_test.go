package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestVagueNames(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"token", "New Token", "new-token", "NEW_TOKEN", "  api ", "Automation"} {
		if !IsVague(nil, n) {
			t.Errorf("%q not vague", n)
		}
		if err := CheckName(nil, "name", n); !errors.Is(err, ErrViolation) {
			t.Errorf("%q not rejected: %v", n, err)
		}
	}
	for _, n := range []string{"ci-regression-runner", "nightly-test-sync", "api-gateway-prod"} {
		if IsVague(nil, n) {
			t.Errorf("%q flagged vague", n)
		}
	}
	flag := &gatepassv1.Policy{VagueNameAction: gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_FLAG}
	if err := CheckName(flag, "name", "token"); err != nil {
		t.Errorf("flag policy rejected: %v", err)
	}
	custom := &gatepassv1.Policy{VagueNames: []string{"stuff"}}
	if !IsVague(custom, "Stuff") || IsVague(custom, "token") {
		t.Error("custom list not used alone")
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	day := 24 * time.Hour
	strict := &gatepassv1.Policy{DefaultLifetime: durationpb.New(30 * day), MaxLifetime: durationpb.New(90 * day), ForbidNeverExpires: true}
	tests := []struct {
		name      string
		p         *gatepassv1.Policy
		expire    *timestamppb.Timestamp
		never     bool
		want      time.Duration
		wantNever bool
		field     string
	}{
		{"explicit", nil, at(day), false, day, false, ""},
		{"never allowed by default", nil, nil, true, 0, true, ""},
		{"nothing, no default", nil, nil, false, 0, false, "expire_time"},
		{"default lifetime", strict, nil, false, 30 * day, false, ""},
		{"within max", strict, at(90 * day), false, 90 * day, false, ""},
		{"beyond max", strict, at(91 * day), false, 0, false, "expire_time"},
		{"never forbidden", strict, nil, true, 0, false, "never_expires"},
		{"never beyond max", &gatepassv1.Policy{MaxLifetime: durationpb.New(day)}, nil, true, 0, false, "never_expires"},
		{"past", nil, at(-time.Second), false, 0, false, "expire_time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp, never, err := Expiry(tt.p, now, tt.expire, tt.never)
			var v *Violation
			if tt.field != "" {
				if !errors.As(err, &v) || v.Field != tt.field {
					t.Fatalf("err = %v, want violation of %s", err, tt.field)
				}
				return
			}
			if err != nil || never != tt.wantNever || (!never && exp.AsTime().Sub(now) != tt.want) {
				t.Fatalf("Expiry = %v, %v, %v", exp, never, err)
			}
		})
	}
}

func TestValidateAndDefaults(t *testing.T) {
	t.Parallel()
	e := Effective(nil)
	if e.GetReview().GetUnusedDays() != DefaultUnusedDays || e.GetVagueNameAction() != gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT {
		t.Fatalf("defaults: %v", e)
	}
	bad := []*gatepassv1.Policy{
		{DefaultLifetime: durationpb.New(time.Second)},
		{DefaultLifetime: durationpb.New(48 * time.Hour), MaxLifetime: durationpb.New(24 * time.Hour)},
		{VagueNames: []string{" "}},
		{VagueNameAction: 7},
		{Review: &gatepassv1.ReviewPolicy{UnusedDays: -1}},
	}
	for _, p := range bad {
		if err := Validate(p); !errors.Is(err, ErrViolation) {
			t.Errorf("Validate(%v) = %v", p, err)
		}
	}
	if err := Validate(&gatepassv1.Policy{MaxLifetime: durationpb.New(24 * time.Hour)}); err != nil {
		t.Error(err)
	}
}

// normalizeFirst is Normalize as first written; the live-name index holds
// its keys, so Normalize must return the same for every name.
func normalizeFirst(name string) string {
	name = strings.ToLower(name)
	name = strings.NewReplacer("-", " ", "_", " ", ".", " ").Replace(name)
	return strings.Join(strings.Fields(name), " ")
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "ci-regression-runner", "  New__Token..", "NIGHTLY test\tsync", "a\u00a0b\u2003c",
		"ÜBER-größe", "\xff\xfeA-b", "İstanbul", "K\u212a", "-_.", "a - b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := Normalize(name), normalizeFirst(name); got != want {
			t.Fatalf("Normalize(%q) = %q, first definition %q", name, got, want)
		}
	})
}

func TestCheckNameReadsThePolicyLikeEffective(t *testing.T) {
	t.Parallel()
	for _, p := range []*gatepassv1.Policy{
		nil, {},
		{VagueNameAction: gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_FLAG},
		{VagueNames: []string{"Stuff-Thing"}},
		{VagueNames: []string{"x"}, VagueNameAction: gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT},
	} {
		for _, name := range []string{"token", "stuff thing", "x", "ci-runner"} {
			e := Effective(p)
			want := e.GetVagueNameAction() == gatepassv1.VagueNameAction_VAGUE_NAME_ACTION_REJECT && IsVague(e, name)
			if got := CheckName(p, "name", name) != nil; got != want {
				t.Errorf("policy %v, name %q: refused %v, Effective says %v", p, name, got, want)
			}
		}
	}
}

func BenchmarkCheckName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckName(nil, "name", "load-seed-123456"); err != nil {
			b.Fatal(err)
		}
	}
}
