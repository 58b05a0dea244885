package token

import (
	"time"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// Expired reports whether a token has expired at now: from the instant
// its expire_time falls due, unless it never expires. The issuer and the
// validators both decide with this one rule.
func Expired(t *gatepassv1.Token, now time.Time) bool {
	return ExpiredAt(t.GetExpireTime().AsTime(), t.GetNeverExpires(), now)
}

// ExpiredAt is Expired for a token's expiry already decoded.
func ExpiredAt(expire time.Time, neverExpires bool, now time.Time) bool {
	return !neverExpires && !now.Before(expire)
}
