package scanning_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatepass/gatepass/services/issuer/internal/issuertest"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/token"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
	"github.com/gatepass/gatepass/services/issuer/internal/scanning"
	"github.com/gatepass/gatepass/services/issuer/internal/store"
	"github.com/gatepass/gatepass/services/issuer/internal/store/storetest"
)

// TestPartnerReports: a report signed by a key in GitHub's key-list file
// revokes the token and labels it true_positive; a stranger's string is a
// false_positive; a forged report gets 401 and changes nothing.
func TestPartnerReports(t *testing.T) {
	t.Parallel()
	st, _ := storetest.Open(t, time.Now)
	life := &lifecycle.Service{Store: st, Now: time.Now}
	owner := issuertest.Owner(t, life)
	leaked, err := life.Create(owner, lifecycle.NewToken{Name: "ci-regression-runner", Role: gatepassv1.Role_ROLE_TESTER, NeverExpires: true})
	if err != nil {
		t.Fatal(err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	list, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": "k1", "is_current": true, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}})
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keyFile, list, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := scanning.LoadKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	waited := ""
	srv := httptest.NewServer(&scanning.Handler{Keys: keys, Report: life.ReportLeaks, Wait: func(_ context.Context, id string) { waited = id }})
	defer srv.Close()

	other, _ := token.Format{}.Mint()
	body, _ := json.Marshal([]map[string]string{
		{"token": leaked.Secret, "type": "gatepass_token", "url": "https://github.com/acme/app/blob/main/ci.yml", "source": "content"},
		{"token": other.String(), "type": "gatepass_token", "url": "https://github.com/acme/app/blob/main/ci.yml", "source": "content"},
	})
	post := func(sig string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+scanning.Path, bytes.NewReader(body))
		req.Header.Set("Github-Public-Key-Identifier", "k1")
		req.Header.Set("Github-Public-Key-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	forged := sign(t, key, append([]byte(" "), body...))
	refused := post(forged)
	refused.Body.Close()
	if refused.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged report: %d", refused.StatusCode)
	}
	if status(t, st, leaked.Token.GetId()) != gatepassv1.TokenStatus_TOKEN_STATUS_ACTIVE {
		t.Fatal("a forged report changed the token")
	}
	resp := post(sign(t, key, body))
	defer resp.Body.Close()
	var labels []struct {
		TokenHash string `json:"token_hash"`
		TokenType string `json:"token_type"`
		Label     string `json:"label"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&labels); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("report: %d %v", resp.StatusCode, err)
	}
	wantHash := sha256.Sum256([]byte(leaked.Secret))
	if len(labels) != 2 || labels[0].Label != "true_positive" || labels[1].Label != "false_positive" ||
		labels[0].TokenHash != hexOf(wantHash[:]) {
		t.Fatalf("labels %+v", labels)
	}
	if status(t, st, leaked.Token.GetId()) != gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED || waited == "" {
		t.Fatalf("after the report: %v, waited for %q", status(t, st, leaked.Token.GetId()), waited)
	}
}

func sign(t *testing.T, key *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func status(t *testing.T, st *store.Store, id string) gatepassv1.TokenStatus {
	t.Helper()
	var s gatepassv1.TokenStatus
	_ = st.View(func(tx *store.Tx) error {
		ts, err := tx.Token(id)
		s = ts.GetToken().GetStatus()
		return err
	})
	return s
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
