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
//
// It allocates nothing: gateways parse a route's min_role on every check.
func Parse(s string) (gatepassv1.Role, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= len("ROLE_") && strings.EqualFold(s[:len("ROLE_")], "ROLE_") {
		s = s[len("ROLE_"):]
	}
	for _, k := range known {
		if strings.EqualFold(s, k.name) {
			return k.role, true
		}
	}
	return 0, false
}

// known lists the roles Parse accepts, with their names: a slice, as
// ranging over a map costs more than the comparisons.
var known = func() (out []struct {
	role gatepassv1.Role
	name string
}) {
	for r, n := range names {
		if r != gatepassv1.Role_ROLE_UNSPECIFIED {
			out = append(out, struct {
				role gatepassv1.Role
				name string
			}{r, n})
		}
	}
	return out
}()

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
