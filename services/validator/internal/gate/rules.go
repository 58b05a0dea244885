package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
	"github.com/gatepass/gatepass/pkg/roles"
)

// Rule sets the project and minimum role for requests matching a method
// and path prefix (matched against the normalized path). Empty Method
// matches any method.
type Rule struct {
	Method     string `json:"method"`
	PathPrefix string `json:"path_prefix"`
	ProjectID  string `json:"project_id"`
	MinRole    string `json:"min_role"`
	role       gatepassv1.Role
}

// Rules are tried in order; the first match wins. A request no rule
// matches is refused unless Unmatched is "allow" (then only the token is
// checked). With no rules file at all, every request only needs a valid
// token.
type Rules struct {
	List []Rule `json:"rules"`
	// Unmatched is "deny" (the default) or "allow".
	Unmatched string `json:"unmatched"`
	// configured is false when no rules file was given.
	configured bool
}

// LoadRules reads rules from path ("" gives no rules).
func LoadRules(path string) (Rules, error) {
	if path == "" {
		return Rules{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, fmt.Errorf("gateway rules: %w", err)
	}
	return ParseRules(b)
}

// ParseRules parses and checks rules: an object {"unmatched": "deny" |
// "allow", "rules": [...]}, or a bare array of rules (unmatched denied).
func ParseRules(b []byte) (Rules, error) {
	var rs Rules
	var err error
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(b, &rs.List)
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&rs)
	}
	if err != nil {
		return Rules{}, fmt.Errorf("gateway rules: %w", err)
	}
	switch rs.Unmatched {
	case "":
		rs.Unmatched = "deny"
	case "deny", "allow":
	default:
		return Rules{}, fmt.Errorf(`gateway rules: unmatched must be "deny" or "allow", not %q`, rs.Unmatched)
	}
	for i := range rs.List {
		r := &rs.List[i]
		if !strings.HasPrefix(r.PathPrefix, "/") {
			return Rules{}, fmt.Errorf("gateway rule %d: path_prefix must start with /", i)
		}
		if n, err := NormalizePath(r.PathPrefix); err != nil || n != r.PathPrefix {
			return Rules{}, fmt.Errorf("gateway rule %d: path_prefix must be a normalized path (%q)", i, n)
		}
		if r.MinRole != "" {
			role, ok := roles.Parse(r.MinRole)
			if !ok {
				return Rules{}, fmt.Errorf("gateway rule %d: unknown min_role %q", i, r.MinRole)
			}
			r.role = role
		}
		r.Method = strings.ToUpper(r.Method)
	}
	rs.configured = true
	return rs, nil
}

// Match returns the project and minimum role of the first rule matching a
// normalized path, and whether the request may go on: a rule matched, no
// rules are configured, or unmatched requests are allowed.
func (rs Rules) Match(method, path string) (string, gatepassv1.Role, bool) {
	for _, r := range rs.List {
		if (r.Method == "" || r.Method == strings.ToUpper(method)) && strings.HasPrefix(path, r.PathPrefix) {
			return r.ProjectID, r.role, true
		}
	}
	return "", gatepassv1.Role_ROLE_UNSPECIFIED, !rs.configured || rs.Unmatched == "allow"
}
