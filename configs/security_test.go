package configs

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSecuritySections(t *testing.T) {
	t.Setenv("SHARDSTOCK_META_DSN", "")
	dir := t.TempDir()
	cfg, err := Load(writeFile(t, dir, "c.yaml", `meta_dsn: app@tcp(127.0.0.1:3306)/meta?tls=prod
tls:
  cert_file: /etc/shardstock/gw.crt
  key_file: /etc/shardstock/gw.key
mysql_tls:
  prod:
    ca_file: /etc/shardstock/mysql-ca.pem
    cert_file: /etc/shardstock/client.crt
    key_file: /etc/shardstock/client.key
    server_name: db.internal
  public_ca: {}
webhooks:
  allow_cidrs: ["10.1.2.0/24", "192.168.7.9", "::ffff:10.9.0.0/112"]
  allow_loopback: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.Enabled() || cfg.TLS.KeyFile != "/etc/shardstock/gw.key" {
		t.Errorf("tls = %+v", cfg.TLS)
	}
	want := map[string]MySQLTLS{
		"prod": {CAFile: "/etc/shardstock/mysql-ca.pem", CertFile: "/etc/shardstock/client.crt",
			KeyFile: "/etc/shardstock/client.key", ServerName: "db.internal"},
		"public_ca": {},
	}
	if !reflect.DeepEqual(cfg.MySQLTLS, want) {
		t.Errorf("mysql_tls = %+v", cfg.MySQLTLS)
	}
	prefixes, err := cfg.Webhooks.AllowedPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range prefixes {
		got = append(got, p.String())
	}
	wantPrefixes := []string{"10.1.2.0/24", "192.168.7.9/32", "10.9.0.0/16", "127.0.0.0/8", "::1/128"}
	if !reflect.DeepEqual(got, wantPrefixes) {
		t.Errorf("allowed prefixes = %v, want %v", got, wantPrefixes)
	}
}

func TestValidateSecurity(t *testing.T) {
	base := Default()
	base.MetaDSN = "x"
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"cert without key", func(c *Config) { c.TLS.CertFile = "a.crt" }, "tls.cert_file and tls.key_file go together"},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = "a.key" }, "tls.cert_file and tls.key_file go together"},
		{"mysql client cert without key", func(c *Config) { c.MySQLTLS = map[string]MySQLTLS{"p": {CertFile: "c"}} }, "mysql_tls.p: cert_file and key_file"},
		{"reserved name", func(c *Config) { c.MySQLTLS = map[string]MySQLTLS{"Skip-Verify": {}} }, "reserved"},
		{"reserved bool name", func(c *Config) { c.MySQLTLS = map[string]MySQLTLS{"true": {}} }, "reserved"},
		{"name needing escapes", func(c *Config) { c.MySQLTLS = map[string]MySQLTLS{"a&b": {}} }, "letters, digits"},
		{"bad cidr", func(c *Config) { c.Webhooks.AllowCIDRs = []string{"10.0.0.0/33"} }, "webhooks.allow_cidrs"},
		{"host name in allow-list", func(c *Config) { c.Webhooks.AllowCIDRs = []string{"hooks.internal"} }, "webhooks.allow_cidrs"},
		{"zone in allow-list", func(c *Config) { c.Webhooks.AllowCIDRs = []string{"fe80::1%eth0"} }, "webhooks.allow_cidrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if err := base.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestAllowedPrefixesNormalises(t *testing.T) {
	w := Webhooks{AllowCIDRs: []string{"10.1.2.3/24", " 2001:db8::1 ", "::ffff:127.0.0.1"}}
	got, err := w.AllowedPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("127.0.0.1/32")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AllowedPrefixes = %v, want %v", got, want)
	}
}

// The documented example of the security keys loads.
func TestSecurityExampleLoads(t *testing.T) {
	t.Setenv("SHARDSTOCK_META_DSN", "")
	t.Setenv("SHARDSTOCK_EVENTS_NATS_URL", "")
	cfg, err := Load("security.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.Enabled() || cfg.MySQLTLS["internal"].CAFile == "" || len(cfg.Webhooks.AllowCIDRs) != 1 {
		t.Errorf("example not loaded: %+v %+v %+v", cfg.TLS, cfg.MySQLTLS, cfg.Webhooks)
	}
}
