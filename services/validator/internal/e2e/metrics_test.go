package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// TestIssuerReportsTheStagesOfAChange: the issuer's /metrics say where a
// change's time went (commit, publication, receipt), under the names the
// load program reads.
func TestIssuerReportsTheStagesOfAChange(t *testing.T) {
	w := newWorld(t)
	ns := startNATS(t)
	dir := t.TempDir()
	metrics := freeAddr(t)
	iss := w.startIssuer(issuerOpts{natsURL: ns.ClientURL(), dataDir: filepath.Join(dir, "issuer"),
		env: map[string]string{"GATEPASS_METRICS_LISTEN": metrics}})
	admin := iss.vars["GATEPASS_TOKEN"]
	w.startValidator("v1", ns.ClientURL(), iss.vars["GATEPASS_ISSUER_PUBLIC_KEY"], filepath.Join(dir, "v1.db"), 2*time.Second)
	ic := issuerClient(t, iss)
	const creates = 3
	for i := range creates {
		w.createToken(ic, admin, "stage-"+strconv.Itoa(i), gatepassv1.Role_ROLE_VIEWER)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"gatepass_issuer_commit_duration_seconds", "gatepass_issuer_commit_changes",
		"gatepass_issuer_publish_duration_seconds", "gatepass_issuer_publish_events",
		"gatepass_issuer_change_publish_wait_duration_seconds", "gatepass_issuer_change_receipt_wait_duration_seconds",
	} {
		m := regexp.MustCompile(`(?m)^` + name + `_count(?:\{[^}]*\})? (\d+)`).FindSubmatch(page)
		if m == nil {
			t.Errorf("%s missing from /metrics", name)
			continue
		}
		if n, _ := strconv.Atoi(string(m[1])); n < 1 {
			t.Errorf("%s counted %d", name, n)
		}
	}
	m := regexp.MustCompile(`(?m)^gatepass_issuer_change_receipt_wait_duration_seconds_count(?:\{[^}]*\})? (\d+)`).FindSubmatch(page)
	if m != nil && string(m[1]) != strconv.Itoa(creates) {
		t.Errorf("%s receipts observed, want one per create (%d)", m[1], creates)
	}
}
