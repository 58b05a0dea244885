// Package roles reads and writes role names the one way every gatepass
// binary does: "admin", "ADMIN" and "ROLE_ADMIN" all parse, and roles print
// as short lower-case names.
package roles

import (
	"strings"

	gatepassv1 "github.com/gatepass/gatepass/pkg/gen/gatepass/v1"
)

// Parse accepts "admin", "ADMIN" or "ROLE_ADMIN"; ROLE_UNSPECIFIED and
// unknown names are refused.
func Parse(s string) (gatepassv1.Role, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(s, "ROLE_") {
		s = "ROLE_" + s
	}
	v, ok := gatepassv1.Role_value[s]
	if !ok || v == 0 {
		return 0, false
	}
	return gatepassv1.Role(v), true
}

// Name is the short lower-case name, e.g. "admin".
func Name(r gatepassv1.Role) string {
	if n, ok := names[r]; ok {
		return n
	}
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

// names holds Name of every known role, computed once: gateways name the
// role on every answer.
var names = func() map[gatepassv1.Role]string {
	m := map[gatepassv1.Role]string{}
	for v, n := range gatepassv1.Role_name {
		m[gatepassv1.Role(v)] = strings.ToLower(strings.TrimPrefix(n, "ROLE_"))
	}
	return m
}()
