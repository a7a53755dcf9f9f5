// Package egress keeps the gateway's outgoing requests (webhook deliveries) away from internal
// networks: server-side request forgery protection.
//
// A Guard refuses loopback, private, link-local, shared (CGNAT), multicast, unspecified and
// other special-purpose addresses, in every spelling (IPv4-mapped IPv6, NAT64), unless the
// address is in the configured allow-list (webhooks.allow_cidrs). It checks twice:
//
//   - CheckURL, when a webhook is registered: the URL's syntax and every address its host
//     resolves to, answering a validation error for the "url" field;
//   - DialContext and Control, on every connection: the addresses are resolved again and the
//     address actually connected to is checked, so a name that resolves to a public address at
//     registration and to 127.0.0.1 later (DNS rebinding) is still refused.
//
// SanitizeError turns a delivery error into a short, fixed phrase without addresses, ports or
// DNS detail, for dead letters and API answers.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/inventory"
)

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// Resolver resolves host names; *net.Resolver (and net.DefaultResolver) implements it, tests
// pass fakes.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard is the egress policy. It is immutable and safe for concurrent use.
type Guard struct {
	allow    []netip.Prefix
	resolver Resolver
	dialer   net.Dialer
}

// New builds the guard from the webhooks configuration; resolver nil means
// net.DefaultResolver.
func New(cfg configs.Webhooks, resolver Resolver) (*Guard, error) {
	allow, err := cfg.AllowedPrefixes()
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	g := &Guard{allow: allow, resolver: resolver}
	g.dialer = net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	return g, nil
}

// allowHint ends the message of a refusal that the allow-list can lift.
const allowHint = "; add it to webhooks.allow_cidrs to allow internal receivers"

// CheckURL validates a webhook URL at registration: absolute http or https, at most
// MaxURLLength bytes, no user name or password, a port in 1-65535, a host that is a DNS name
// or an IP address in canonical form (decimal, hexadecimal, octal and shortened IPv4 forms such
// as 2130706433, 0x7f000001, 0177.0.0.1 or 127.1 are refused, since some resolvers read them as
// 127.0.0.1), and every address the host resolves to allowed by the policy. The error is an
// inventory validation error for the field "url"; a refusal by the policy also wraps a
// *RefusedError (errors.Is(err, ErrRefused)). The message never shows what a name resolved to.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	host, err := parseTarget(raw)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return inventory.Validation("url", "url host must not carry an IPv6 zone")
		}
		if err := g.CheckAddr(a); err != nil {
			var re *RefusedError
			errors.As(err, &re)
			return refusal(fmt.Sprintf("url host %s is %s address", host, re.Class), re)
		}
		return nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return inventory.Validation("url", "url host %q could not be resolved", host).Wrap(err)
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			var re *RefusedError
			errors.As(err, &re)
			return refusal(fmt.Sprintf("url host %q resolves to %s address", host, re.Class), re)
		}
	}
	return nil
}

// refusal is the validation error of a refused address.
func refusal(msg string, re *RefusedError) error {
	if re.Allowable {
		msg += allowHint
	} else {
		msg += ", which is never a webhook receiver"
	}
	return inventory.Validation("url", "%s", msg).Wrap(re)
}

// parseTarget checks everything about raw but the addresses and returns the host (a DNS name
// without a final dot, or an IP address without brackets).
func parseTarget(raw string) (string, error) {
	invalid := func(format string, args ...any) error { return inventory.Validation("url", format, args...) }
	if len(raw) > MaxURLLength {
		return "", invalid("url must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Host == "" {
		return "", invalid("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return "", invalid("url must not contain a user name or password")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", invalid("url port must be 1-65535")
		}
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if !validHostName(host) {
		return "", invalid("url host %q is not a valid host name or IP address (write IPv4 addresses as 203.0.113.7)", host)
	}
	return strings.TrimSuffix(host, "."), nil
}

// validHostName reports whether h is a DNS name in ASCII (IDNs in punycode) whose last label
// is not numeric: a name such as 2130706433, 0x7f000001 or 127.1 is an IPv4 address to
// inet_aton and thus to some resolvers.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return !numericLabel(labels[len(labels)-1])
}

// numericLabel reports whether l is a number to inet_aton: decimal, octal or 0x hexadecimal.
func numericLabel(l string) bool {
	if len(l) > 2 && (l[:2] == "0x" || l[:2] == "0X") {
		l = l[2:]
		return strings.Trim(l, "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}
