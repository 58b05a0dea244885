package e2e

import (
	"path/filepath"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestDemotionReachesEveryValidator: once UpdateMemberRole lowering an
// admin to viewer returns, that member's admin token fails admin checks on
// every validator (the first version kept passing them).
func TestDemotionReachesEveryValidator(t *testing.T) {
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	pub, admin := iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], iss.vars["GATEPASS_TOKEN"]
	var validators []gatepassv1.ValidatorServiceClient
	for _, name := range []string{"v1", "v2"} {
		validators = append(validators, validatorClient(t, w.startValidator(name, ns.ClientURL(), pub, filepath.Join(dir, name+".db"), 3*time.Second)))
	}
	ws := gatepassv1.NewWorkspaceServiceClient(dial(t, iss.vars["GATEPASS_ISSUER_ADDR"]))
	m, err := ws.AddMember(authed(t, admin), &gatepassv1.AddMemberRequest{DisplayName: "Ada", Role: gatepassv1.Role_ROLE_ADMIN})
	if err != nil {
		t.Fatal(err)
	}
	tok := w.createTokenWith(issuerClient(t, iss), admin, &gatepassv1.CreateTokenRequest{
		Name: "ada-admin-sync", Role: gatepassv1.Role_ROLE_ADMIN, NeverExpires: true, OwnerId: m.GetMember().GetId(),
	})
	asAdmin := func(v gatepassv1.ValidatorServiceClient) gatepassv1.Reason {
		resp, err := v.ValidateToken(authed(t, ""), &gatepassv1.ValidateTokenRequest{Token: tok.GetSecret(), MinRole: gatepassv1.Role_ROLE_ADMIN})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReason()
	}
	for _, v := range validators {
		eventually(t, 10*time.Second, "admin token accepted", func() bool { return asAdmin(v) == gatepassv1.Reason_REASON_ACTIVE })
	}
	resp, err := ws.UpdateMemberRole(authed(t, admin), &gatepassv1.UpdateMemberRoleRequest{MemberId: m.GetMember().GetId(), Role: gatepassv1.Role_ROLE_VIEWER})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetReceipt().GetComplete() || resp.GetTokensCapped() != 1 {
		t.Fatalf("demotion: %v", resp)
	}
	for i, v := range validators {
		if got := asAdmin(v); got != gatepassv1.Reason_REASON_INSUFFICIENT_ROLE {
			t.Fatalf("validator %d right after the demotion: %v", i+1, got)
		}
	}
}
