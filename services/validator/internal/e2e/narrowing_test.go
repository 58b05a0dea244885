package e2e

import (
	"path/filepath"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// TestNarrowingInPlace: lowering a token's role returns a complete receipt,
// and the validator refuses the old role right after, with no polling; a
// raise is refused.
func TestNarrowingInPlace(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	admin := iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 3*time.Second)
	vc, ic := validatorClient(t, v), issuerClient(t, iss)
	c := w.createToken(ic, admin, "release-smoke-tests", gatepassv1.Role_ROLE_MAINTAINER)
	asTester := func() string {
		r, err := vc.ValidateToken(authed(t, admin), &gatepassv1.ValidateTokenRequest{Token: c.GetSecret(), MinRole: gatepassv1.Role_ROLE_TESTER})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetReason().String()
	}
	eventually(t, 10*time.Second, "token active", func() bool { return asTester() == "REASON_ACTIVE" })
	resp, err := ic.UpdateToken(authed(t, admin), &gatepassv1.UpdateTokenRequest{
		TokenId: c.GetToken().GetId(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role"}}, Role: gatepassv1.Role_ROLE_VIEWER,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetReceipt().GetComplete() {
		t.Fatalf("receipt %v", resp.GetReceipt())
	}
	if got := asTester(); got != "REASON_INSUFFICIENT_ROLE" {
		t.Fatalf("right after the narrowing's receipt, the validator says %s", got)
	}
	_, err = ic.UpdateToken(authed(t, admin), &gatepassv1.UpdateTokenRequest{
		TokenId: c.GetToken().GetId(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role"}}, Role: gatepassv1.Role_ROLE_ADMIN,
	})
	if statusCode(err) != "InvalidArgument" {
		t.Fatalf("raising the role: %v", err)
	}
}
