package gate

import (
	"fmt"
	"net/netip"
	"strings"
)

// Proxies are the networks whose X-Forwarded-For is believed.
type Proxies []netip.Prefix

// ParseProxies parses a comma-separated list of CIDRs or addresses.
func ParseProxies(s string) (Proxies, error) {
	var ps Proxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR or address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// Trusts reports whether a peer address is a trusted proxy.
func (ps Proxies) Trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the original client's address. X-Forwarded-For entries
// are believed only while every hop closer to us is a trusted proxy: the
// list is read from the right, and the first address not in Proxies is the
// client. A peer that is not a trusted proxy is the client itself, whatever
// headers it sent.
func (ps Proxies) ClientIP(peer netip.Addr, xff []string) netip.Addr {
	client := peer.Unmap()
	if !ps.Trusts(client) {
		return client
	}
	var hops []string
	for _, h := range xff {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// Garbage from a hop we trust to append correctly: stop at the
			// last address we could read.
			return client
		}
		client = a.Unmap()
		if !ps.Trusts(client) {
			return client
		}
	}
	return client
}
