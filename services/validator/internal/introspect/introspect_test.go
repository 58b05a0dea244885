package introspect

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/services/validator/internal/check"
)

func newHandler(t *testing.T, current error) *Handler {
	t.Helper()
	clients, err := ParseClients("apache:0123456789abcdef-secret")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := &check.Token{ID: "tok_a", Scope: &check.Scope{WorkspaceID: "ws_a", ProjectID: "prj_a", OwnerID: "mem_a"},
		Role: gatepassv1.Role_ROLE_TESTER, Status: gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE, Expire: exp.UnixNano(), Created: 1700000000}
	return &Handler{
		Clients: clients, Logger: slog.New(slog.DiscardHandler),
		Current: func() error { return current },
		Decide: func(secret string, _ check.Request) (check.Answer, error) {
			switch secret {
			case "good":
				return check.Answer{Reason: gatepassv1.Reason_REASON_ACTIVE, Token: *tok, Known: true}, nil
			case "revoked":
				return check.Answer{Reason: gatepassv1.Reason_REASON_REVOKED, Token: *tok, Known: true}, nil
			}
			return check.Answer{Reason: gatepassv1.Reason_REASON_UNKNOWN}, nil
		},
	}
}

func introspect(t *testing.T, h http.Handler, user, pass, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	h := newHandler(t, nil)
	const pass = "0123456789abcdef-secret"
	code, body := introspect(t, h, "apache", pass, "good")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	want := map[string]any{"active": true, "scope": "tester", "client_id": "tok_a", "sub": "mem_a", "exp": float64(1798761600),
		"iat": float64(1700000000), "token_type": "Bearer", "workspace_id": "ws_a", "project_id": "prj_a"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, tok := range []string{"revoked", "unknown", ""} {
		if code, body := introspect(t, h, "apache", pass, tok); code != http.StatusOK || strings.TrimSpace(body) != `{"active":false}` {
			t.Errorf("%q: %d %s", tok, code, body)
		}
	}
	for _, creds := range [][2]string{{"", ""}, {"apache", "wrong"}, {"nobody", pass}} {
		if code, _ := introspect(t, h, creds[0], creds[1], "good"); code != http.StatusUnauthorized {
			t.Errorf("client %q: %d, want 401", creds[0], code)
		}
	}
	if code, _ := introspect(t, newHandler(t, errors.New("stale")), "apache", pass, "good"); code != http.StatusServiceUnavailable {
		t.Errorf("not current: %d, want 503", code)
	}
	if _, err := ParseClients("apache:short"); err == nil {
		t.Error("a short client secret was accepted")
	}
}
