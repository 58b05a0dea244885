// Package introspect answers OAuth 2.0 token introspection (RFC 7662) for
// gatepass tokens, on the validator's HTTP listener beside /check, so a
// resource server that speaks introspection (Apache's mod_oauth2, an API
// gateway, a library) can use gatepass without a gatepass client.
//
// POST /introspect with token=… (form-encoded), authenticated by HTTP
// Basic as one of the configured introspection clients. An active token
// answers active, scope (its role), client_id (the token id), sub (its
// owner), exp (absent for a token that never expires), iat, token_type
// and the gatepass extensions workspace_id and project_id. Anything else,
// whatever the reason, answers {"active": false} and nothing more.
//
// # Caveats
//
// Introspection carries no client address: a token limited to networks is
// inactive here (fail closed). A validator that is not current answers
// 503, never an answer it cannot vouch for.
package introspect

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatepass/gatepass/pkg/roles"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

// Path is where introspection is served.
const Path = "/introspect"

// maxForm bounds a request body: a token and a hint.
const maxForm = 4 << 10

// minSecret is the shortest client secret accepted in configuration.
const minSecret = 16

// Clients are the introspection clients: id → SHA-256 of the secret.
type Clients map[string][sha256.Size]byte

// ParseClients reads "id:secret,id2:secret2". Secrets are at least 16
// characters; only their digests are kept.
func ParseClients(s string) (Clients, error) {
	out := Clients{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, secret, ok := strings.Cut(item, ":")
		if !ok || id == "" || len(secret) < minSecret {
			return nil, fmt.Errorf("introspection client %q: want id:secret with a secret of at least %d characters", id, minSecret)
		}
		out[id] = sha256.Sum256([]byte(secret))
	}
	return out, nil
}

// Handler answers introspection requests.
type Handler struct {
	Decide  func(secret string, req check.Request) (check.Answer, error)
	Current func() error
	Clients Clients
	Logger  *slog.Logger
}

var inactive = []byte(`{"active":false}` + "\n")

// response is an active token's answer.
type response struct {
	Active      bool   `json:"active"`
	Scope       string `json:"scope"`
	ClientID    string `json:"client_id"`
	Sub         string `json:"sub"`
	Exp         int64  `json:"exp,omitempty"`
	Iat         int64  `json:"iat,omitempty"`
	TokenType   string `json:"token_type"`
	WorkspaceID string `json:"workspace_id"`
	ProjectID   string `json:"project_id,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.authenticated(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatepass introspection"`)
		http.Error(w, "introspection client authentication required", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "expected a form with token", http.StatusBadRequest)
		return
	}
	if err := h.Current(); err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "validator not current", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	body, err := h.answer(r.PostForm.Get("token"))
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "introspection failed", "error", err)
		body = inactive
	}
	_, _ = w.Write(body)
}

// authenticated checks HTTP Basic credentials against the clients, in
// constant time per client.
func (h *Handler) authenticated(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	want, known := h.Clients[id]
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
}

// answer decides a token as a check with no project, role or client
// address would, and renders the RFC 7662 answer.
func (h *Handler) answer(secret string) ([]byte, error) {
	if secret == "" {
		return inactive, nil
	}
	a, err := h.Decide(secret, check.Request{})
	if err != nil {
		return nil, err
	}
	if !a.Active() || !a.Known {
		return inactive, nil
	}
	t := &a.Token
	resp := response{
		Active: true, Scope: roles.Name(t.Role), ClientID: t.ID, Sub: t.OwnerID, Iat: t.Created,
		TokenType: "Bearer", WorkspaceID: t.WorkspaceID, ProjectID: t.ProjectID,
	}
	if !t.NeverExpires {
		resp.Exp = t.ExpireTime().Unix()
	}
	b, err := json.Marshal(resp)
	return append(b, '\n'), err
}
