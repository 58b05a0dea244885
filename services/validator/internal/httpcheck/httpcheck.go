// Package httpcheck serves a validator's HTTP check endpoint for gateways
// that authorize with a sub-request: nginx auth_request, Caddy forward_auth
// and Traefik ForwardAuth.
//
// GET (or any method) /check reads the original request's Authorization
// header, its method and path from the header pair the configured gateway
// sets (Style: nginx sets X-Original-Method and X-Original-URI; Caddy and
// Traefik set X-Forwarded-Method and X-Forwarded-Uri), and the optional
// query parameters project_id and min_role set by the operator in the
// gateway config. It answers only 200 (with X-Gatepass-* identity headers),
// 401 or 403: nginx turns anything else into a 500.
//
// # Caveats
//
// Gateways pass the client's own headers into the check request: nginx's
// auth_request forwards them all, so a client can send X-Forwarded-Method.
// Only the configured pair is read, and only from a trusted proxy; the
// other pair is ignored. A request from any other peer is authorized as
// itself (its own method and path). X-Forwarded-For is believed only from
// trusted proxies too. When the validator is not current the answer is 401
// with Retry-After, never 200.
package httpcheck

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatepass/gatepass/pkg/httpserve"
	"github.com/gatepass/gatepass/services/validator/internal/extauthz"
	"github.com/gatepass/gatepass/services/validator/internal/gate"
)

// MaxHeaderBytes bounds the request headers a gateway may send. Larger
// ones get a 401 like any unusable request; only beyond four times this
// does the HTTP server itself refuse them (431), before reading more.
const MaxHeaderBytes = 16 << 10

// Style names the gateway in front, which decides the header pair that
// carries the original method and URI.
type Style string

// The gateways.
const (
	Nginx   Style = "nginx"
	Caddy   Style = "caddy"
	Traefik Style = "traefik"
)

// ParseStyle checks a configured style.
func ParseStyle(s string) (Style, error) {
	switch st := Style(s); st {
	case Nginx, Caddy, Traefik:
		return st, nil
	}
	return "", fmt.Errorf("check-style %q: want nginx, caddy or traefik", s)
}

// headers returns the method and URI headers of a style.
func (st Style) headers() (method, uri string) {
	if st == Nginx {
		return "X-Original-Method", "X-Original-URI"
	}
	return "X-Forwarded-Method", "X-Forwarded-Uri"
}

// Server is a bound HTTP check server.
type Server struct {
	gate    *gate.Gate
	style   Style
	proxies gate.Proxies
	serving func() bool
	// Detail, when set, adds a line of health detail to /healthz (e.g. a
	// clock-skew warning); empty adds nothing.
	Detail func() string
	// Introspect, when set, answers RFC 7662 introspection at
	// /introspect (package introspect).
	Introspect http.Handler
	log        *slog.Logger
	lis        net.Listener
	srv        *http.Server
}

// New binds addr. serving reports readiness for /healthz.
func New(addr string, g *gate.Gate, style Style, proxies gate.Proxies, serving func() bool, log *slog.Logger) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("check listen on %s: %w", addr, err)
	}
	s := &Server{gate: g, style: style, proxies: proxies, serving: serving, log: log, lis: lis}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    4 * MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Serve serves until ctx ends, then shuts down within 5s.
func (s *Server) Serve(ctx context.Context) error {
	return httpserve.Serve(ctx, s.srv, s.lis, "HTTP check")
}

// identityHeaders are gate.IdentityHeaders in canonical form, computed
// once rather than on every answer.
var identityHeaders = func() []string {
	out := make([]string, len(gate.IdentityHeaders))
	for i, h := range gate.IdentityHeaders {
		out[i] = http.CanonicalHeaderKey(h)
	}
	return out
}()

var noStore = []string{"no-store"}

// route sends /check (and anything under it) to check, GET /healthz to
// healthz, and /introspect to Introspect when set: decided without a
// ServeMux on every check.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/check" || strings.HasPrefix(p, "/check/"):
		s.check(w, r)
	case p == "/introspect" && s.Introspect != nil:
		s.Introspect.ServeHTTP(w, r)
	case p == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.healthz(w, r)
	case p == "/healthz":
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = noStore
	if headerBytes(r.Header) > MaxHeaderBytes {
		s.log.InfoContext(r.Context(), "HTTP check refused oversized headers")
		deny(w)
		return
	}
	method, path := s.original(r)
	req := gate.Request{
		Authorization: r.Header.Get("Authorization"),
		Method:        method,
		Path:          path,
		ClientIP:      s.clientIP(r),
	}
	req.Route = route(r.URL.RawQuery)
	res, err := s.gate.Check(r.Context(), req)
	if err != nil {
		s.log.ErrorContext(r.Context(), "HTTP check failed", "error", err)
	}
	switch res.Outcome {
	case gate.Allow:
		// One backing array for every value.
		vals := make([]string, len(res.Headers))
		for i, kv := range res.Headers {
			// Always set, even empty, so a gateway copying them overwrites
			// any the client sent.
			vals[i] = kv[1]
			h[identityHeaders[i]] = vals[i : i+1 : i+1]
		}
		w.WriteHeader(http.StatusOK)
	case gate.Forbidden:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(extauthz.ForbiddenBody))
	case gate.Unavailable:
		h.Set("Retry-After", "1")
		fallthrough
	default:
		deny(w)
	}
}

// route reads project_id and min_role from the check URL's query (the
// first of each), allocating nothing unless a value is escaped. A value
// that cannot be unescaped is kept as sent: it then matches no project
// and no role, and the check refuses.
func route(rawQuery string) gate.Route {
	var r gate.Route
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		switch {
		case k == "project_id" && !r.HasProjectID:
			r.ProjectID, r.HasProjectID = v, true
		case k == "min_role" && !r.HasMinRole:
			r.MinRole, r.HasMinRole = v, true
		}
	}
	return r
}

// deny answers the one 401 every unusable token gets.
func deny(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(extauthz.DeniedBody))
}

func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if !s.serving() {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
	if s.Detail != nil {
		if d := s.Detail(); d != "" {
			_, _ = w.Write([]byte(d + "\n"))
		}
	}
}

func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return s.proxies.ClientIP(ap.Addr(), r.Header.Values("X-Forwarded-For"))
}

// original returns the method and path of the request being authorized:
// from the style's header pair when a trusted proxy sent them, else the
// check request's own.
func (s *Server) original(r *http.Request) (method, path string) {
	method, path = r.Method, r.URL.EscapedPath()
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.proxies.Trusts(peer.Addr()) {
		return method, path
	}
	mh, uh := s.style.headers()
	if m := r.Header.Get(mh); m != "" {
		method = m
	}
	if u := r.Header.Get(uh); u != "" {
		path = u
	}
	return method, path
}
