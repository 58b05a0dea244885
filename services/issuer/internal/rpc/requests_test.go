package rpc

import (
	"testing"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestCheckLooksAtEveryDepth: a secret or a malformed time is found in a
// nested message and in a list, and named by its path.
func TestCheckLooksAtEveryDepth(t *testing.T) {
	t.Parallel()
	sec, err := token.Format{}.Mint()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		req   proto.Message
		field string
	}{
		{"clean", &gatepassv1.CreateTokenRequest{Name: "ci-regression-runner"}, ""},
		{"secret in a field", &gatepassv1.RevokeTokenRequest{Reason: "was " + sec.String()}, "reason"},
		{"secret in a nested list", &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{VagueNames: []string{"token", sec.String()}}}, "policy.vague_names[1]"},
		{"bad timestamp", &gatepassv1.ListAuditEventsRequest{StartTime: &timestamppb.Timestamp{Nanos: -1}}, "start_time"},
		{"bad nested duration", &gatepassv1.UpdatePolicyRequest{Policy: &gatepassv1.Policy{MaxLifetime: &durationpb.Duration{Seconds: 1, Nanos: -1}}}, "policy.max_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tt.req)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, codes.InvalidArgument)
			if got := violatedField(err); got != tt.field {
				t.Fatalf("field = %q, want %q", got, tt.field)
			}
		})
	}
}
