package notify

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

// fixedResolver resolves every name to its addresses, with no network.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	public := fixedResolver{netip.MustParseAddr("203.0.113.7")}
	rebinding := fixedResolver{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("10.0.0.1")}
	tests := []struct {
		url          string
		allowPrivate bool
		r            Resolver
		ok           bool
	}{
		{"https://hooks.example.com/gatepass", false, public, true},
		{"https://hooks.example.com/gatepass", false, rebinding, false},
		{"https://203.0.113.10/h", false, public, true},
		{"http://203.0.113.10/h", false, public, false},
		{"http://127.0.0.1:8080/h", true, public, true},
		{"https://[::1]/h", false, public, false},
		{"https://[::ffff:127.0.0.1]/h", false, public, false},
		{"https://100.64.1.1/h", false, public, false},
		{"https://169.254.169.254/", false, public, false},
		{"https://[fd00:ec2::254]/", false, public, false},
		{"https://0.0.0.0/", false, public, false},
		{"https://LOCALHOST./", false, public, false},
		{"https://a:b@203.0.113.10/", true, public, false},
		{"/relative", true, public, false},
		{"gopher://203.0.113.10/", true, public, false},
	}
	for _, tt := range tests {
		err := CheckURL(context.Background(), tt.url, tt.allowPrivate, tt.r)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrTarget)) {
			t.Errorf("CheckURL(%q, private=%v) = %v, want ok=%v", tt.url, tt.allowPrivate, err, tt.ok)
		}
	}
}

// FuzzCheckURL: whatever the input, an accepted URL without the private
// allowance is https and names no internal literal address.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://203.0.113.10/h", "https://[::1]/", "http://x", "https://10.0.0.1:443/", "https://%31%32%37.0.0.1/"} {
		f.Add(s)
	}
	r := fixedResolver{netip.MustParseAddr("203.0.113.7")}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(context.Background(), raw, false, r) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" {
			t.Fatalf("accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !Public(ip) {
			t.Fatalf("accepted internal %q", raw)
		}
	})
}
