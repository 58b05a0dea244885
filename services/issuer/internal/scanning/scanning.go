// Package scanning is the issuer's endpoint for GitHub's secret scanning
// partner program: a scanner that finds a pushed gatepass secret reports
// it here, without a gatepass credential, and the token is revoked (or
// disabled, by its workspace's leak policy) before the answer goes back.
//
// The request is a JSON array of {token, type, url, source}, signed over
// its body with ECDSA P-256 and SHA-256; the key is named by the
// Github-Public-Key-Identifier header and the DER signature is in
// Github-Public-Key-Signature (base64). Keys come from a file in GitHub's
// key-list format. The answer labels each token true_positive (a gatepass
// token, now revoked or disabled) or false_positive, by its SHA-256.
//
// # Caveats
//
// A badly signed request changes nothing and gets 401. Possession of a
// secret is the authority here, as with ReportLeakedTokens.
package scanning

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/gatepass/gatepass/services/issuer/internal/access"
	"github.com/gatepass/gatepass/services/issuer/internal/lifecycle"
)

// Path is where the endpoint is served.
const Path = "/secret-scanning"

// maxBody bounds a report: GitHub sends batches of at most 1,000 matches.
const maxBody = 1 << 20

// Handler answers secret scanning reports.
type Handler struct {
	// Keys verify reports, by key identifier.
	Keys map[string]*ecdsa.PublicKey
	// Report applies the leak policy (lifecycle.Service.ReportLeaks).
	Report func(access.Principal, lifecycle.Leak) (lifecycle.Leaked, error)
	// Wait waits (bounded) until validators applied an event.
	Wait   func(ctx context.Context, eventID string)
	Logger *slog.Logger
}

type match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

type label struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// ErrBadSignature is returned when a report is not signed by a known key.
var ErrBadSignature = errors.New("secret scanning report: bad signature")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "report too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(r.Header.Get("Github-Public-Key-Identifier"), r.Header.Get("Github-Public-Key-Signature"), body); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var matches []match
	if err := json.Unmarshal(body, &matches); err != nil || len(matches) > 1000 {
		http.Error(w, "expected a JSON array of at most 1000 matches", http.StatusBadRequest)
		return
	}
	labels, err := h.apply(r.Context(), matches)
	if err != nil {
		h.Logger.Error("secret scanning report", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(labels)
}

// verify checks an ECDSA signature over the body's SHA-256.
func (h *Handler) verify(keyID, sig string, body []byte) error {
	key, ok := h.Keys[keyID]
	if !ok || keyID == "" {
		return ErrBadSignature
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], der) {
		return ErrBadSignature
	}
	return nil
}

// apply reports the matches, grouped by where they were found, waits for
// the validators, and labels each match.
func (h *Handler) apply(ctx context.Context, matches []match) ([]label, error) {
	bySource := map[string][]int{}
	var order []string
	for i, m := range matches {
		if _, ok := bySource[m.URL]; !ok {
			order = append(order, m.URL)
		}
		bySource[m.URL] = append(bySource[m.URL], i)
	}
	labels := make([]label, len(matches))
	last := ""
	for _, url := range order {
		idx := bySource[url]
		leak := lifecycle.Leak{SourceURL: url, Reporter: "github secret scanning"}
		for _, i := range idx {
			leak.Secrets = append(leak.Secrets, matches[i].Token)
		}
		out, err := h.Report(access.Principal{}, leak)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			l := label{TokenHash: hashOf(matches[i].Token), TokenType: matches[i].Type, Label: "false_positive"}
			if out.Results[j].GetFound() {
				l.Label = "true_positive"
			}
			labels[i] = l
		}
		if out.EventID != "" {
			last = out.EventID
		}
	}
	if last != "" && h.Wait != nil {
		// Every event of earlier reports came first: the last one covers all.
		h.Wait(ctx, last)
	}
	return labels, nil
}

func hashOf(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

// LoadKeys reads verification keys from a file in GitHub's key-list
// format: {"public_keys": [{"key_identifier": "...", "key": "<PEM>"}]}.
func LoadKeys(path string) (map[string]*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret scanning keys: %w", err)
	}
	var list struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("secret scanning keys: %w", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range list.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil {
			return nil, fmt.Errorf("secret scanning key %s: no PEM block", k.KeyIdentifier)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("secret scanning key %s: %w", k.KeyIdentifier, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("secret scanning key %s: not an ECDSA key", k.KeyIdentifier)
		}
		keys[k.KeyIdentifier] = ec
	}
	if len(keys) == 0 {
		return nil, errors.New("secret scanning keys: none in the file")
	}
	return keys, nil
}
