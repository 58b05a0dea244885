package gate

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  error
	}{
		{"/api/reports", "/api/reports", nil},
		{"/api/reports/", "/api/reports/", nil},
		{"/api/reports?x=1", "/api/reports", nil},
		{"//api/admin/users", "/api/admin/users", nil},
		{"/api/reports/../admin/users", "/api/admin/users", nil},
		{"/api/./reports", "/api/reports", nil},
		{"/api/reports/..", "/api/", nil},
		{"/%61pi/%41dmin", "/api/Admin", nil},
		{"/api/%2e%2e/admin", "/admin", nil},
		{"/api/r%C3%A9sum%c3%a9", "/api/r%C3%A9sum%C3%A9", nil},
		{"/", "/", nil},
		{"/..", "", ErrBadPath},
		{"/api/../../etc", "", ErrBadPath},
		{"/api%2fadmin", "", ErrBadPath},
		{"/api%5cadmin", "", ErrBadPath},
		{"/api\\admin", "", ErrBadPath},
		{"/api/%zz", "", ErrBadPath},
		{"/api/%4", "", ErrBadPath},
		{"/api/%00", "", ErrBadPath},
		{"api/admin", "", ErrBadPath},
		{"", "", ErrBadPath},
	}
	for _, tt := range tests {
		got, err := NormalizePath(tt.in)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/api/reports/../admin", "//x", "/%2e%2e/", "/a/./b/", "/", "/a/", "/a/.", "/..", "/a//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if strings.HasPrefix(p, "/") && clean(p) {
			if n, err := normalize(p); err != nil || n != p {
				t.Fatalf("clean(%q), but normalize gives %q, %v", p, n, err)
			}
		}
		n, err := NormalizePath(p)
		if err != nil {
			return
		}
		again, err := NormalizePath(n)
		if err != nil || again != n {
			t.Fatalf("normalizing %q twice: %q then %q, %v", p, n, again, err)
		}
	})
}
