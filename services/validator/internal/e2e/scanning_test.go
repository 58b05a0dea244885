package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestSecretScanningReport: the issuer process serves GitHub's secret
// scanning partner format; a signed report of a pushed secret is answered
// true_positive only once the validators refuse the token, and a forged
// one changes nothing.
func TestSecretScanningReport(t *testing.T) {
	w := newWorld(t)
	ns := startNATS(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	list, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": "scanner-1", "is_current": true, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}})
	keys := filepath.Join(dir, "scanner-keys.json")
	if err := os.WriteFile(keys, list, 0o600); err != nil {
		t.Fatal(err)
	}
	iss := w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: filepath.Join(dir, "issuer"), env: map[string]string{
		"GATEPASS_SECRET_SCANNING_LISTEN": "127.0.0.1:0", "GATEPASS_SECRET_SCANNING_KEYS": keys,
	}})
	admin := iss.vars["GATEPASS_TOKEN"]
	v := w.startValidator("v", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v.db"), 3*time.Second)
	vc := validatorClient(t, v)
	pushed := w.createToken(issuerClient(t, iss), admin, "ci-regression-runner", gatepassv1.Role_ROLE_TESTER)
	eventually(t, 10*time.Second, "token active", func() bool { return reason(t, vc, pushed.GetSecret()) == "REASON_ACTIVE" })

	body, _ := json.Marshal([]map[string]string{{
		"token": pushed.GetSecret(), "type": "gatepass_token", "url": "https://github.com/acme/app/blob/main/.env", "source": "content",
	}})
	post := func(payload []byte, signed []byte) (*http.Response, error) {
		d := sha256.Sum256(signed)
		sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+iss.vars["GATEPASS_SECRET_SCANNING_ADDR"]+"/secret-scanning", bytes.NewReader(payload))
		req.Header.Set("Github-Public-Key-Identifier", "scanner-1")
		req.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
		return http.DefaultClient.Do(req)
	}
	forged, err := post(body, []byte("something else"))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusUnauthorized || reason(t, vc, pushed.GetSecret()) != "REASON_ACTIVE" {
		t.Fatalf("forged report: %d, token %s", forged.StatusCode, reason(t, vc, pushed.GetSecret()))
	}
	resp, err := post(body, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var labels []struct {
		Label string `json:"label"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&labels); err != nil || len(labels) != 1 || labels[0].Label != "true_positive" {
		t.Fatalf("report: %d %v %v", resp.StatusCode, labels, err)
	}
	// The answer came after the receipt: the validator refuses at once.
	if got := reason(t, vc, pushed.GetSecret()); got != "REASON_REVOKED" {
		t.Fatalf("right after the report the validator says %s", got)
	}
}
