package token

import (
	"regexp"
	"strings"
)

// anyPrefixPattern matches what looks like a secret of any valid prefix.
var anyPrefixPattern = regexp.MustCompile(`[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{36}`)

// ContainsSecret reports whether s holds a well-formed secret of any
// prefix (checksum included), wherever it stands in the text. Free text
// that does must be refused without echoing it: a secret pasted into a
// name or a revoke reason would otherwise reach the audit trail.
func ContainsSecret(s string) bool {
	for _, loc := range anyPrefixPattern.FindAllStringIndex(s, -1) {
		m := s[loc[0]:loc[1]]
		// The match may have swallowed letters before the real prefix
		// ("xgp_…"): try every start within the prefix part.
		us := strings.IndexByte(m, '_')
		for i := 0; i < us; i++ {
			if _, err := (Format{Prefix: m[i:us]}).Parse(m[i:]); err == nil {
				return true
			}
		}
	}
	return false
}
