package client

import (
	"net/http"
	"net/netip"
)

// HTTPRequireFunc says what a request needs; nil requires only a valid token.
type HTTPRequireFunc func(r *http.Request) Requirement

// ClientIPFunc returns the original client's address for allowlists; the
// default is the connection's peer address.
type ClientIPFunc func(r *http.Request) netip.Addr

// Middleware checks the caller of every request and puts the Principal in
// the request's context. It answers 401, 403 or 503 itself.
func (c *Client) Middleware(require HTTPRequireFunc, clientIP ClientIPFunc, next http.Handler) http.Handler {
	if clientIP == nil {
		clientIP = peerAddr
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Requirement
		if require != nil {
			req = require(r)
		}
		verdict, p := c.Check(r.Context(), r.Header.Get("Authorization"), req, clientIP(r))
		switch verdict {
		case Allowed:
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		case Forbidden:
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
			http.Error(w, "access token lacks the role or project for this request", http.StatusForbidden)
		case Unavailable:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "cannot check the access token now", http.StatusServiceUnavailable)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid or missing access token", http.StatusUnauthorized)
		}
	})
}

func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
