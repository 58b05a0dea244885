package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrTarget is returned when a webhook URL or the address it resolves to is
// not allowed.
var ErrTarget = errors.New("webhook target not allowed")

// internal are ranges no webhook may reach unless the policy allows
// private targets, beyond what netip classifies (loopback, private,
// link-local, multicast, unspecified).
var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach anything IPv4
}

// Public reports whether ip is an address a webhook may reach without the
// policy allowing private targets.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range internal {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Resolver finds a host's addresses; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckURL checks a webhook URL: https (http only with allowPrivate), no
// credentials in it, and a host whose every address is public unless
// allowPrivate.
func CheckURL(ctx context.Context, raw string, allowPrivate bool, r Resolver) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: not an absolute URL", ErrTarget)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%w: credentials do not belong in the URL; the signature authenticates deliveries", ErrTarget)
	case u.Scheme != "https" && (u.Scheme != "http" || !allowPrivate):
		return fmt.Errorf("%w: the URL must be https", ErrTarget)
	case allowPrivate:
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s is internal", ErrTarget, host)
	}
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, ip)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
			return fmt.Errorf("%w: %s does not resolve", ErrTarget, host)
		}
	}
	for _, ip := range addrs {
		if !Public(ip) {
			return fmt.Errorf("%w: %s resolves to an internal address", ErrTarget, host)
		}
	}
	return nil
}

// publicOnly is a net.Dialer Control that refuses connections to
// non-public addresses, whatever the name resolved to.
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is internal", ErrTarget, address)
	}
	return nil
}

// dialer returns the dialer for a workspace's deliveries.
func dialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		d.Control = publicOnly
	}
	return d
}
