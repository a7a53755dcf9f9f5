package egress

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrRefused is wrapped by every refusal of the egress policy, at registration (CheckURL) and
// at connect time (DialContext, Control).
var ErrRefused = errors.New("refused by egress policy")

// class names why an address is not a public unicast address, with its article ("a loopback").
type class string

const (
	public         class = ""
	unspecified    class = "an unspecified"
	multicast      class = "a multicast"
	broadcast      class = "a broadcast"
	loopback       class = "a loopback"
	private        class = "a private"
	linkLocal      class = "a link-local"
	shared         class = "a shared (carrier-grade NAT)"
	specialPurpose class = "a special-purpose"
)

// neverAllowed are the classes no allow-list can open: they are not unicast receivers (and a
// connect to 0.0.0.0 reaches this host).
func (c class) neverAllowed() bool { return c == unspecified || c == multicast || c == broadcast }

var (
	limitedBroadcast = netip.MustParseAddr("255.255.255.255")
	sharedV4         = netip.MustParsePrefix("100.64.0.0/10")
	globalV6         = netip.MustParsePrefix("2000::/3")
	nat64            = netip.MustParsePrefix("64:ff9b::/96")
)

// specialV4 and specialV6 are the IANA special-purpose ranges that net/netip's helpers
// (IsLoopback, IsPrivate, IsLinkLocalUnicast, IsMulticast, IsUnspecified) do not cover. IPv6
// outside 2000::/3 is special-purpose as a whole (IPv4-compatible ::/96, discard-only 100::/64,
// local-use NAT64 64:ff9b:1::/48, site-local fec0::/10, SRv6 5f00::/16, …).
var (
	specialV4 = prefixes(
		"0.0.0.0/8",       // "this network"; 0.x.y.z may reach this host
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"240.0.0.0/4",     // reserved
	)
	specialV6 = prefixes(
		"2001::/23",     // IETF protocol assignments, Teredo (embeds an IPv4 address)
		"2001:db8::/32", // documentation
		"2002::/16",     // 6to4 (embeds an IPv4 address)
		"3fff::/20",     // documentation
	)
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// classify says what kind of address a is; public means a global unicast address. a must be
// unmapped and without zone.
func classify(a netip.Addr) class {
	switch {
	case !a.IsValid(), a.IsUnspecified():
		return unspecified
	case a.IsMulticast():
		return multicast
	case a == limitedBroadcast:
		return broadcast
	case a.IsLoopback():
		return loopback
	case a.IsLinkLocalUnicast():
		return linkLocal
	case a.IsPrivate():
		return private
	case a.Is4() && sharedV4.Contains(a):
		return shared
	}
	if a.Is6() && nat64.Contains(a) {
		// Well-known NAT64 prefix: what matters is the IPv4 address the translator connects to.
		b := a.As16()
		return classify(netip.AddrFrom4([4]byte(b[12:])))
	}
	special := specialV4
	if a.Is6() {
		if !globalV6.Contains(a) {
			return specialPurpose
		}
		special = specialV6
	}
	for _, p := range special {
		if p.Contains(a) {
			return specialPurpose
		}
	}
	return public
}

// normalize unmaps IPv4-mapped IPv6 addresses (::ffff:127.0.0.1 is 127.0.0.1 on the wire) and
// drops the zone, so that the policy sees the address that is actually reached.
func normalize(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// RefusedError is the refusal of one address; it wraps ErrRefused. Its text names the address:
// fit for logs and for the operator, not for dead letters (see SanitizeError).
type RefusedError struct {
	Addr netip.Addr
	// Class says what the address is, with its article: "a loopback", "a private", ….
	Class string
	// Allowable is false for addresses no allow-list can open (unspecified, multicast, broadcast).
	Allowable bool
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s is %s address", ErrRefused, e.Addr, e.Class)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// CheckAddr returns nil when a may be connected to: a public unicast address, or an address in
// the allow-list (unless it is unspecified, multicast or broadcast, which are always refused).
// Otherwise it returns a *RefusedError.
func (g *Guard) CheckAddr(a netip.Addr) error {
	a = normalize(a)
	c := classify(a)
	if c == public {
		return nil
	}
	if !c.neverAllowed() {
		for _, p := range g.allow {
			if p.Contains(a) {
				return nil
			}
		}
	}
	return &RefusedError{Addr: a, Class: string(c), Allowable: !c.neverAllowed()}
}
