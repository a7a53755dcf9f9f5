package configs

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// TLS configures HTTPS on the gateway's listener. Both files or neither: without them the
// gateway speaks plain HTTP. `serve` reloads both files on SIGHUP; connections already open
// keep the certificate they were opened with.
type TLS struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain, leaf first
	KeyFile  string `yaml:"key_file"`  // PEM private key of the leaf
}

// Enabled reports whether the listener should serve TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// MySQLTLS is one named TLS setting for connections to MySQL; a DSN uses it with tls=<name>
// (the shard DSNs in the metadata store too, so every process that opens shards needs the
// same names). Without CAFile the system roots verify the server; the server is always
// verified (there is no skip-verify setting on purpose).
type MySQLTLS struct {
	// CAFile is a PEM bundle of the CAs that sign the servers' certificates.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key (both or neither), for
	// accounts created with REQUIRE X509 / SUBJECT / ISSUER.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name expected in the server's certificate; empty means the DSN's host.
	ServerName string `yaml:"server_name"`
}

// Webhooks is the egress policy of webhook deliveries. Receivers on loopback, private,
// link-local, shared (CGNAT) and other special-purpose addresses are refused at registration
// and at connect time unless their address is in the allow-list.
type Webhooks struct {
	// AllowCIDRs lists networks (10.1.2.0/24) or addresses (10.1.2.3) of internal receivers.
	AllowCIDRs []string `yaml:"allow_cidrs,omitempty"`
	// AllowLoopback adds 127.0.0.0/8 and ::1 to the allow-list (`shardstock dev` sets it).
	AllowLoopback bool `yaml:"allow_loopback"`
}

// loopback is what Webhooks.AllowLoopback allows.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// AllowedPrefixes returns the allow-list as prefixes: an address is a one-address prefix,
// IPv4-mapped IPv6 prefixes become IPv4 prefixes, AllowLoopback adds the loopback networks.
func (w Webhooks) AllowedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range w.AllowCIDRs {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("webhooks.allow_cidrs: %q is not a CIDR (10.1.2.0/24) or an IP address", s)
		}
		out = append(out, p)
	}
	if w.AllowLoopback {
		out = append(out, loopback...)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// mysqlTLSName is what a tls=<name> DSN parameter may hold without escaping.
var mysqlTLSName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// reservedTLSNames are the values of tls= that go-sql-driver/mysql interprets itself.
var reservedTLSNames = []string{"true", "false", "1", "0", "skip-verify", "preferred"}

// validateSecurity checks tls, mysql_tls and webhooks.
func (c Config) validateSecurity() []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check((c.TLS.CertFile == "") == (c.TLS.KeyFile == ""), "tls.cert_file and tls.key_file go together")
	names := make([]string, 0, len(c.MySQLTLS))
	for name := range c.MySQLTLS {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := c.MySQLTLS[name]
		check(mysqlTLSName.MatchString(name), "mysql_tls: name %q must be 1-64 letters, digits, '-' or '_'", name)
		check(!slices.Contains(reservedTLSNames, strings.ToLower(name)), "mysql_tls: name %q is reserved by the MySQL driver", name)
		check((t.CertFile == "") == (t.KeyFile == ""), "mysql_tls.%s: cert_file and key_file go together", name)
	}
	if _, err := c.Webhooks.AllowedPrefixes(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
