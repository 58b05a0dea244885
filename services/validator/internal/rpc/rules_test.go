package rpc

import (
	"errors"
	"testing"

	"buf.build/go/protovalidate"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// FuzzValidateAgreesWithRules holds the hot path's Go check of a
// ValidateTokenRequest to exactly what the rules in validator.proto say:
// the same requests refused, naming the same field. The rules are the
// contract; the Go check exists because protovalidate costs more than the
// decision itself.
func FuzzValidateAgreesWithRules(f *testing.F) {
	for _, s := range []struct {
		tok, project, ip string
		role             int32
	}{
		{"gp_x", "", "", 0},
		{"", "", "", 0},
		{"gp_x", "prj_0000000000000000000000", "10.0.0.1", 2},
		{"gp_x", "", "2001:db8::1", 5},
		{"gp_x", "", "fe80::1%eth0", 0},
		{"gp_x", "", "10.0.0.1/8", 0},
		{"gp_x", "", "::ffff:10.0.0.1", 0},
		{"gp_x", "", " 10.0.0.1", 0},
		{"gp_x", "", "010.0.0.1", 0},
		{"gp_x", "", "", 6},
		{"gp_x", "", "", -1},
		{string(make([]byte, 257)), "", "", 0},
		{"gp_x", string(make([]byte, 65)), "", 0},
	} {
		f.Add(s.tok, s.project, s.ip, s.role)
	}
	rules, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok, project, ip string, role int32) {
		req := &gatepassv1.ValidateTokenRequest{Token: tok, ProjectId: project, ClientIp: ip, MinRole: gatepassv1.Role(role)}
		got := fieldOf(Validate(req))
		want := ""
		if err := rules.Validate(req); err != nil {
			var ve *protovalidate.ValidationError
			if !asValidation(err, &ve) {
				t.Fatalf("rules: %v", err)
			}
			want = protovalidate.FieldPathString(ve.Violations[0].Proto.GetField())
		}
		if got != want {
			t.Fatalf("Go check names %q, the rules %q, for %q", got, want, req)
		}
	})
}

func asValidation(err error, ve **protovalidate.ValidationError) bool {
	return errors.As(err, ve) && len((*ve).Violations) > 0
}

// fieldOf names the first field a status error's BadRequest names; "" for nil.
func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	if err != nil {
		return "?" + err.Error()
	}
	return ""
}
