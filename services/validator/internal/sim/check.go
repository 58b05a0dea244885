package sim

import (
	"fmt"
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// history records what the checker needs: every complete receipt and every
// validation that accepted a token.
type history struct {
	receipts    []completed
	acceptances []acceptance
	accepted    int
	timeouts    int
}

type completed struct {
	tokenID string
	version uint64
	status  gatepassv1.TokenStatus
	at      time.Time
}

type acceptance struct {
	validator, tokenID string
	version            uint64
	at                 time.Time
}

func (h *history) receipt(p pending, at time.Time, _ *gatepassv1.PropagationReceipt) {
	h.receipts = append(h.receipts, completed{tokenID: p.tokenID, version: p.version, status: p.status, at: at})
}

func (h *history) accept(validator, tokenID string, version uint64, at time.Time) {
	h.accepted++
	h.acceptances = append(h.acceptances, acceptance{validator: validator, tokenID: tokenID, version: version, at: at})
}

// check asserts property (a): once a disable or revoke has a complete
// receipt, no validation that starts later accepts the token from a state
// older than that change. (A later enable accepts it from a newer one.)
func (h *history) check() []string {
	// The earliest complete receipt of each (token, version) that refuses.
	type key struct {
		id string
		v  uint64
	}
	byToken := map[string][]completed{}
	for _, r := range h.receipts {
		if r.status == gatepassv1.TokenStatus_TOKEN_STATUS_DISABLED || r.status == gatepassv1.TokenStatus_TOKEN_STATUS_REVOKED {
			byToken[r.tokenID] = append(byToken[r.tokenID], r)
		}
	}
	var out []string
	seen := map[key]bool{}
	for _, a := range h.acceptances {
		for _, r := range byToken[a.tokenID] {
			if a.at.After(r.at) && a.version < r.version && !seen[key{a.tokenID, r.version}] {
				seen[key{a.tokenID, r.version}] = true
				out = append(out, fmt.Sprintf("%s accepted %s at version %d at %.3fs, after the receipt for version %d (%s) completed at %.3fs",
					a.validator, a.tokenID, a.version, a.at.Sub(epoch).Seconds(), r.version, r.status, r.at.Sub(epoch).Seconds()))
			}
		}
	}
	return out
}
