package gate

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// Rule sets the project and minimum role for requests matching a method
// and path prefix. Empty Method matches any method.
type Rule struct {
	Method     string `json:"method"`
	PathPrefix string `json:"path_prefix"`
	ProjectID  string `json:"project_id"`
	MinRole    string `json:"min_role"`
	role       gatepassv1.Role
}

// Rules are tried in order; the first match wins.
type Rules []Rule

// LoadRules reads a JSON array of rules from path ("" gives no rules).
func LoadRules(path string) (Rules, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway rules: %w", err)
	}
	return ParseRules(b)
}

// ParseRules parses and checks a JSON array of rules.
func ParseRules(b []byte) (Rules, error) {
	var rs Rules
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("gateway rules: %w", err)
	}
	for i := range rs {
		r := &rs[i]
		if !strings.HasPrefix(r.PathPrefix, "/") {
			return nil, fmt.Errorf("gateway rule %d: path_prefix must start with /", i)
		}
		if r.MinRole != "" {
			role, ok := ParseRole(r.MinRole)
			if !ok {
				return nil, fmt.Errorf("gateway rule %d: unknown min_role %q", i, r.MinRole)
			}
			r.role = role
		}
		r.Method = strings.ToUpper(r.Method)
	}
	return rs, nil
}

// Match returns the project and minimum role of the first matching rule.
func (rs Rules) Match(method, path string) (string, gatepassv1.Role) {
	for _, r := range rs {
		if (r.Method == "" || r.Method == strings.ToUpper(method)) && strings.HasPrefix(path, r.PathPrefix) {
			return r.ProjectID, r.role
		}
	}
	return "", gatepassv1.Role_ROLE_UNSPECIFIED
}
