package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
)

// DialContext connects like net.Dialer.DialContext, but only to allowed addresses: it resolves
// the host with the guard's resolver (again: what CheckURL saw at registration does not count),
// skips every address the policy refuses, dials the others in order, and its dialer's Control
// checks the address of the connect itself. When every address is refused the error wraps a
// *RefusedError.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", network, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %s: bad port", network)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("egress: dial %s: %w", network, err)
	}
	var firstErr error
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			firstErr = firstOf(firstErr, err)
			continue
		}
		conn, err := g.dialer.DialContext(ctx, network, netip.AddrPortFrom(normalize(a), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		firstErr = firstOf(firstErr, err)
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return nil, firstErr
}

// firstOf keeps the first error.
func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Control is a net.Dialer.Control function that refuses a connect to an address the policy
// does not allow; it runs after name resolution, on the address the socket is about to
// connect to, so nothing reaches a refused address. Use it in any dialer that must obey the
// policy (DialContext already does).
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: connect to %q: %w", address, ErrRefused)
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("egress: network %s: %w", network, ErrRefused)
	}
	return g.CheckAddr(ap.Addr())
}

// Transport returns an http.Transport (the defaults of http.DefaultTransport) that connects
// through DialContext and never through a proxy: a proxy from HTTP_PROXY would connect to the
// target for us, unchecked.
func (g *Guard) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = g.DialContext
	tr.DialTLSContext = nil
	return tr
}
