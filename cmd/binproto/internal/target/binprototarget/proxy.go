package binprototarget

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/binproto/binproto"
)

// ParseProxyProtocol parses the value of `serve --proxy-protocol`: "off"
// (or ""), "required", or "trusted=CIDR[,CIDR...]" (a bare address is a
// /32 or /128).
func ParseProxyProtocol(s string) (binproto.ProxyProtocol, error) {
	switch s {
	case "", "off":
		return binproto.ProxyProtocol{}, nil
	case "required":
		return binproto.ProxyProtocol{Mode: binproto.ProxyRequired}, nil
	}
	list, ok := strings.CutPrefix(s, "trusted=")
	if !ok || list == "" {
		return binproto.ProxyProtocol{}, fmt.Errorf("--proxy-protocol %q: want off, required or trusted=CIDR[,CIDR...]", s)
	}
	pp := binproto.ProxyProtocol{Mode: binproto.ProxyTrusted}
	for _, n := range strings.Split(list, ",") {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return binproto.ProxyProtocol{}, fmt.Errorf("--proxy-protocol: trusted network %q: %w", n, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		pp.Trusted = append(pp.Trusted, p.Masked())
	}
	return pp, nil
}
