package gate

import (
	"errors"
	"strings"
)

// ErrBadPath is returned by NormalizePath for a path that cannot be
// normalized safely.
var ErrBadPath = errors.New("request path cannot be normalized")

// NormalizePath returns the path rules are matched against: percent-encoded
// unreserved characters decoded, repeated slashes collapsed and dot
// segments resolved, the query dropped. A path that does not start with a
// slash, has a bad or NUL escape, encodes a slash or backslash, holds a
// backslash or a control character, or climbs above the root is refused:
// the upstream could read it differently from the rules.
func NormalizePath(p string) (string, error) {
	p, _, _ = strings.Cut(p, "?")
	p, _, _ = strings.Cut(p, "#")
	if !strings.HasPrefix(p, "/") {
		return "", ErrBadPath
	}
	if clean(p) {
		return p, nil // what normalize would return, without building it
	}
	return normalize(p)
}

// normalize is NormalizePath for a path that starts with a slash.
func normalize(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", ErrBadPath
			}
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			switch {
			case isUnreserved(d):
				b.WriteByte(d)
			case d == '/' || d == '\\' || d == '%' || d < 0x20 || d == 0x7f:
				return "", ErrBadPath
			default:
				// Reserved or non-ASCII: keep it encoded, upper-case.
				b.WriteString(strings.ToUpper(p[i : i+3]))
			}
			i += 2
		case c == '\\' || c < 0x20 || c == 0x7f:
			return "", ErrBadPath
		default:
			b.WriteByte(c)
		}
	}
	segs := strings.Split(b.String(), "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs[1:] {
		last := i == len(segs)-2
		switch s {
		case "", ".":
			if last {
				out = append(out, "") // keep a trailing slash
			}
		case "..":
			if len(out) == 0 {
				return "", ErrBadPath
			}
			out = out[:len(out)-1]
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), nil
}

// clean reports whether NormalizePath would return p unchanged: no escape,
// backslash or control character, no empty segment but a trailing one, no
// dot segment.
func clean(p string) bool {
	seg := 0 // start of the current segment, after its slash
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if c == '%' || c == '\\' || c < 0x20 || c == 0x7f {
				return false
			}
			if c != '/' {
				continue
			}
		}
		switch p[seg+1 : i] {
		case "":
			if i < len(p) {
				return false // "//"
			}
		case ".", "..":
			return false
		}
		seg = i
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
