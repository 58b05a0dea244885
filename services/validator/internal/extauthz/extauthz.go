// Package extauthz serves Envoy's external authorization API
// (envoy.service.auth.v3.Authorization/Check) on a validator's gRPC
// listener, using the gateway decisions of package gate.
//
// The token is read from the request's authorization header in either
// encoding Envoy sends: the headers map, or header_map (with raw_value
// bytes when encode_raw_headers is on). Per-route context extensions
// "project_id" and "min_role" beat the configured rules. The source
// address Envoy reports is the client IP checked against allowed CIDRs.
package extauthz

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/gatepass/gatepass/services/validator/internal/gate"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DeniedBody is the body of every 401, whatever the reason.
const DeniedBody = "invalid or missing access token\n"

// ForbiddenBody is the body of every 403.
const ForbiddenBody = "access token lacks the role or project for this request\n"

// Server implements authv3.AuthorizationServer.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	Gate *gate.Gate
	// KeepAuthorization passes the authorization header upstream.
	KeepAuthorization bool
	Logger            *slog.Logger
}

// Check implements the Authorization service.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	httpReq := req.GetAttributes().GetRequest().GetHttp()
	path, _, _ := strings.Cut(httpReq.GetPath(), "?")
	r := gate.Request{
		Authorization: header(httpReq, "authorization"),
		Method:        httpReq.GetMethod(),
		Path:          path,
		Route:         gate.RouteFrom(req.GetAttributes().GetContextExtensions()),
	}
	if a, err := netip.ParseAddr(req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress()); err == nil {
		r.ClientIP = a
	}
	res, err := s.Gate.Check(ctx, r)
	if err != nil {
		s.Logger.ErrorContext(ctx, "ext_authz check failed", "error", err)
	}
	switch res.Outcome {
	case gate.Allow:
		ok := &authv3.OkHttpResponse{}
		for _, h := range res.Headers {
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: h[0], Value: h[1]},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
		if !s.KeepAuthorization {
			ok.HeadersToRemove = []string{"authorization"}
		}
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}, nil
	case gate.Unauthenticated:
		return denied(codes.Unauthenticated, typev3.StatusCode_Unauthorized, DeniedBody,
			&corev3.HeaderValue{Key: "www-authenticate", Value: `Bearer error="invalid_token"`}), nil
	case gate.Forbidden:
		return denied(codes.PermissionDenied, typev3.StatusCode_Forbidden, ForbiddenBody,
			&corev3.HeaderValue{Key: "www-authenticate", Value: `Bearer error="insufficient_scope"`}), nil
	}
	// Not current, or the check failed: let Envoy's failure mode decide.
	return nil, status.Error(codes.Unavailable, "validator is not current")
}

func denied(code codes.Code, httpCode typev3.StatusCode, body string, hdr *corev3.HeaderValue) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: httpCode},
			Headers: []*corev3.HeaderValueOption{
				{Header: hdr, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
				{Header: &corev3.HeaderValue{Key: "content-type", Value: "text/plain; charset=utf-8"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			},
			Body: body,
		}},
	}
}

// header returns a request header from whichever encoding Envoy used.
func header(r *authv3.AttributeContext_HttpRequest, name string) string {
	if v, ok := r.GetHeaders()[name]; ok {
		return v
	}
	for _, h := range r.GetHeaderMap().GetHeaders() {
		if strings.EqualFold(h.GetKey(), name) {
			if len(h.GetRawValue()) > 0 {
				return string(h.GetRawValue())
			}
			return h.GetValue()
		}
	}
	return ""
}
