package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkRequest builds what Envoy sends. raw selects header_map with
// raw_value bytes (encode_raw_headers) instead of the headers map.
func checkRequest(auth string, raw bool, ext map[string]string, source string, extra map[string]string) *authv3.CheckRequest {
	h := &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/api/runs?page=2", Host: "api.example.com"}
	headers := map[string]string{":path": "/api/runs?page=2"}
	for k, v := range extra {
		headers[k] = v
	}
	if auth != "" {
		headers["authorization"] = auth
	}
	if raw {
		h.HeaderMap = &corev3.HeaderMap{}
		for k, v := range headers {
			h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
	} else {
		h.Headers = headers
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: source, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}},
		}}},
		Request:           &authv3.AttributeContext_Request{Http: h},
		ContextExtensions: ext,
	}}
}

func TestEnvoyExtAuthz(t *testing.T) {
	const staleness = time.Second
	w := newWorld(t)
	ns, iss, dir := w.natsAndIssuer()
	v := w.startValidator("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), staleness)
	admin := iss.vars["GATEPASS_TOKEN"]
	ic := issuerClient(t, iss)
	proj := createProject(t, iss, admin, "checkout")
	other := createProject(t, iss, admin, "billing")
	tester := w.createTokenIn(ic, admin, "ci-checkout-runner", gatepassv1.Role_ROLE_TESTER, proj)
	limited := w.createTokenWith(ic, admin, &gatepassv1.CreateTokenRequest{
		Name: "office-only", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true, AllowedCidrs: []string{"10.0.0.0/8", "2001:db8::/32"},
	})
	revoked := w.createToken(ic, admin, "old-runner", gatepassv1.Role_ROLE_TESTER)
	if _, err := ic.RevokeToken(authed(t, admin), &gatepassv1.RevokeTokenRequest{TokenId: revoked.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	authz := authv3.NewAuthorizationClient(dial(t, v.vars["GATEPASS_VALIDATOR_ADDR"]))
	vc := validatorClient(t, v)
	eventually(t, 10*time.Second, "tokens applied", func() bool { return reason(t, vc, revoked.GetSecret()) == "REASON_REVOKED" })

	bearer := func(s string) string { return "Bearer " + s }
	inProj := map[string]string{"project_id": proj}
	tests := []struct {
		name     string
		req      *authv3.CheckRequest
		wantHTTP typev3.StatusCode // 0 means allowed
		wantCode codes.Code
	}{
		{"allow, headers map", checkRequest(bearer(tester.GetSecret()), false, inProj, "192.0.2.1", nil), 0, codes.OK},
		{"allow, raw header map", checkRequest(bearer(tester.GetSecret()), true, inProj, "192.0.2.1", nil), 0, codes.OK},
		{"missing token", checkRequest("", false, inProj, "192.0.2.1", nil), typev3.StatusCode_Unauthorized, codes.Unauthenticated},
		{"malformed token", checkRequest("Bearer gp_nope", true, inProj, "192.0.2.1", nil), typev3.StatusCode_Unauthorized, codes.Unauthenticated},
		{"revoked token", checkRequest(bearer(revoked.GetSecret()), false, nil, "192.0.2.1", nil), typev3.StatusCode_Unauthorized, codes.Unauthenticated},
		{"wrong project", checkRequest(bearer(tester.GetSecret()), false, map[string]string{"project_id": other}, "192.0.2.1", nil), typev3.StatusCode_Forbidden, codes.PermissionDenied},
		{"role too low", checkRequest(bearer(tester.GetSecret()), false, map[string]string{"project_id": proj, "min_role": "maintainer"}, "192.0.2.1", nil), typev3.StatusCode_Forbidden, codes.PermissionDenied},
		{"allowed network v4", checkRequest(bearer(limited.GetSecret()), false, nil, "10.9.8.7", nil), 0, codes.OK},
		{"allowed network v6", checkRequest(bearer(limited.GetSecret()), false, nil, "2001:db8::42", nil), 0, codes.OK},
		{"outside allowed networks", checkRequest(bearer(limited.GetSecret()), false, nil, "192.0.2.1", map[string]string{"x-forwarded-for": "10.1.1.1"}), typev3.StatusCode_Unauthorized, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := authz.Check(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.wantCode {
				t.Fatalf("status %v, want %v", got, tt.wantCode)
			}
			if tt.wantHTTP == 0 {
				ok := resp.GetOkResponse()
				got := map[string]string{}
				for _, h := range ok.GetHeaders() {
					got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
				}
				if got["x-gatepass-token-id"] == "" || got["x-gatepass-role"] != "tester" || got["x-gatepass-workspace-id"] == "" || len(got) != 5 {
					t.Fatalf("identity headers = %v", got)
				}
				if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "authorization" {
					t.Fatalf("headers to remove = %v", ok.GetHeadersToRemove())
				}
				return
			}
			d := resp.GetDeniedResponse()
			if d.GetStatus().GetCode() != tt.wantHTTP {
				t.Fatalf("HTTP status %v, want %v", d.GetStatus().GetCode(), tt.wantHTTP)
			}
			if tt.wantHTTP == typev3.StatusCode_Unauthorized {
				var www string
				for _, h := range d.GetHeaders() {
					if h.GetHeader().GetKey() == "www-authenticate" {
						www = h.GetHeader().GetValue()
					}
				}
				if www != `Bearer error="invalid_token"` || d.GetBody() != "invalid or missing access token\n" {
					t.Fatalf("401 differs: %q %q", www, d.GetBody())
				}
			}
		})
	}

	// Stale validator: UNAVAILABLE, never an allow.
	ns.Shutdown()
	eventually(t, staleness+2*time.Second, "ext_authz fails closed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := authz.Check(ctx, checkRequest(bearer(tester.GetSecret()), false, inProj, "192.0.2.1", nil))
		if err == nil && resp.GetOkResponse() == nil {
			t.Fatalf("stale validator denied instead of UNAVAILABLE: %v", resp)
		}
		return status.Code(err) == codes.Unavailable
	})
}
