package egress_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/inventory"
)

// These tests never send anything beyond loopback: addresses outside 127.0.0.0/8 and ::1 only
// ever reach CheckURL (which resolves, never connects), and the fake resolver below is the only
// resolver the tests use, so no DNS query leaves the process either.

// fakeResolver answers from a map that a test may change between calls (DNS rebinding).
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	calls   map[string]int
}

func newResolver(pairs ...string) *fakeResolver {
	r := &fakeResolver{answers: map[string][]netip.Addr{}, calls: map[string]int{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.set(pairs[i], pairs[i+1])
	}
	return r
}

// set makes name resolve to the comma-separated addresses.
func (r *fakeResolver) set(name, addrs string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list []netip.Addr
	for _, s := range strings.Split(addrs, ",") {
		list = append(list, netip.MustParseAddr(s))
	}
	r.answers[name] = list
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	if a, ok := r.answers[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.0.0.53:53", IsNotFound: true}
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// newGuard builds a guard over the fake resolver, allowing the given CIDRs.
func newGuard(t *testing.T, r egress.Resolver, allow ...string) *egress.Guard {
	t.Helper()
	g, err := egress.New(configs.Webhooks{AllowCIDRs: allow}, r)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// checkRefused asserts err is a validation error on "url" whose message contains want.
func checkValidation(t *testing.T, raw string, err error, want string) {
	t.Helper()
	var de *inventory.Error
	if !errors.As(err, &de) || de.Code != inventory.CodeValidation || de.Details["field"] != "url" {
		t.Errorf("CheckURL(%q) = %v, want validation_failed on field url", raw, err)
		return
	}
	if !strings.Contains(de.Message, want) {
		t.Errorf("CheckURL(%q) message %q, want it to contain %q", raw, de.Message, want)
	}
}

func TestCheckURLRefusesNonPublicTargets(t *testing.T) {
	g := newGuard(t, newResolver())
	tests := []struct{ url, class string }{
		{"http://127.0.0.1/", "a loopback"},
		{"http://127.255.255.254:8080/x", "a loopback"},
		{"http://[::1]:9/", "a loopback"},
		{"http://[::ffff:127.0.0.1]/", "a loopback"},
		{"http://[::ffff:7f00:1]/", "a loopback"},
		{"http://[0:0:0:0:0:ffff:127.0.0.1]/", "a loopback"},
		{"http://[64:ff9b::7f00:1]/", "a loopback"}, // NAT64 of 127.0.0.1
		{"http://10.0.0.1/", "a private"},
		{"http://172.16.5.4/", "a private"},
		{"http://172.31.255.255/", "a private"},
		{"http://192.168.1.1/", "a private"},
		{"http://[fd00::1]/", "a private"},
		{"http://[::ffff:10.1.2.3]/", "a private"},
		{"http://[64:ff9b::a00:1]/", "a private"},
		{"http://169.254.169.254/latest/meta-data/", "a link-local"},
		{"http://[::ffff:169.254.169.254]/", "a link-local"},
		{"http://[fe80::1]/", "a link-local"},
		{"http://100.64.0.1/", "a shared (carrier-grade NAT)"},
		{"http://100.127.255.254/", "a shared (carrier-grade NAT)"},
		{"http://0.0.0.0/", "an unspecified"},
		{"http://[::]/", "an unspecified"},
		{"http://[::ffff:0.0.0.0]/", "an unspecified"},
		{"http://224.0.0.1/", "a multicast"},
		{"http://239.255.255.250:1900/", "a multicast"},
		{"http://[ff02::1]/", "a multicast"},
		{"http://[ff05::1:3]/", "a multicast"},
		{"http://255.255.255.255/", "a broadcast"},
		{"http://0.1.2.3/", "a special-purpose"},
		{"http://192.0.0.8/", "a special-purpose"},
		{"http://192.0.2.1/", "a special-purpose"},
		{"http://198.18.0.1/", "a special-purpose"},
		{"http://198.51.100.7/", "a special-purpose"},
		{"http://203.0.113.7/", "a special-purpose"},
		{"http://240.0.0.1/", "a special-purpose"},
		{"http://[::127.0.0.1]/", "a special-purpose"},    // IPv4-compatible
		{"http://[2002:7f00:1::1]/", "a special-purpose"}, // 6to4 of 127.0.0.1
		{"http://[2001::1]/", "a special-purpose"},        // Teredo
		{"http://[2001:db8::1]/", "a special-purpose"},
		{"http://[fec0::1]/", "a special-purpose"}, // site-local
		{"http://[100::1]/", "a special-purpose"},  // discard-only
		{"http://[64:ff9b:1::1]/", "a special-purpose"},
	}
	for _, tt := range tests {
		err := g.CheckURL(context.Background(), tt.url)
		checkValidation(t, tt.url, err, tt.class+" address")
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckURL(%q) = %v, want it to wrap ErrRefused", tt.url, err)
		}
	}
}

func TestCheckURLRefusesBadSyntax(t *testing.T) {
	g := newGuard(t, newResolver("hooks.example.test", "93.184.216.34"))
	tests := []struct{ url, want string }{
		{"", "absolute http or https URL"},
		{"ftp://hooks.example.test/", "absolute http or https URL"},
		{"file:///etc/passwd", "absolute http or https URL"},
		{"gopher://hooks.example.test:70/", "absolute http or https URL"},
		{"http:127.0.0.1", "absolute http or https URL"},
		{"http:/hooks.example.test/", "absolute http or https URL"},
		{"//hooks.example.test/", "absolute http or https URL"},
		{"http://[127.0.0.1]/", "absolute http or https URL"},
		{"http://%31%32%37.0.0.1/", "absolute http or https URL"},
		{"http://user:pw@hooks.example.test/", "user name or password"},
		{"http://@hooks.example.test/", "user name or password"},
		{"http://127.0.0.1:80@hooks.example.test/", "user name or password"},
		{"http://hooks.example.test:0/", "port must be 1-65535"},
		{"http://hooks.example.test:65536/", "port must be 1-65535"},
		{"http://[fe80::1%25eth0]/", "zone"},
		{"http://" + strings.Repeat("a", 2048) + ".test/", "at most 2048"},
		// IPv4 in the forms of inet_aton: some resolvers read them as 127.0.0.1.
		{"http://2130706433/", "not a valid host name"},
		{"http://0x7f000001/", "not a valid host name"},
		{"http://0X7F000001/", "not a valid host name"},
		{"http://017700000001/", "not a valid host name"},
		{"http://0177.0.0.1/", "not a valid host name"},
		{"http://0x7f.0.0.1/", "not a valid host name"},
		{"http://127.1/", "not a valid host name"},
		{"http://127.0.1/", "not a valid host name"},
		{"http://0/", "not a valid host name"},
		{"http://10.0.0.1./", "not a valid host name"},
		{"http://a..test/", "not a valid host name"},
		{"http://-a.test/", "not a valid host name"},
		{"http://a,b.test/", "not a valid host name"},
		{"http://ｌｏｃａｌｈｏｓｔ/", "not a valid host name"},
		{"http://" + strings.Repeat("a", 64) + ".test/", "not a valid host name"},
		{"http://nowhere.test/", `url host "nowhere.test" could not be resolved`},
	}
	for _, tt := range tests {
		err := g.CheckURL(context.Background(), tt.url)
		checkValidation(t, tt.url, err, tt.want)
		if errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckURL(%q) wraps ErrRefused, want a syntax error", tt.url)
		}
	}
	for _, err := range []error{g.CheckURL(context.Background(), "http://nowhere.test/")} {
		var de *inventory.Error
		if errors.As(err, &de) && strings.Contains(de.Message, "10.0.0.53") {
			t.Errorf("message shows the DNS server: %q", de.Message)
		}
	}
}

func TestCheckURLAcceptsPublicTargets(t *testing.T) {
	r := newResolver("hooks.example.test", "93.184.216.34,2606:2800:220:1:248:1893:25c8:1946",
		"xn--bcher-kva.example.test", "93.184.216.34")
	g := newGuard(t, r)
	for _, u := range []string{
		"http://93.184.216.34/hook",
		"https://93.184.216.34:8443/hook?x=1#f",
		"https://[2606:4700::1111]/",
		"http://[::ffff:93.184.216.34]/",
		"http://[64:ff9b::5db8:d822]/", // NAT64 of 93.184.216.34
		"https://hooks.example.test/events",
		"HTTPS://Hooks.Example.Test./events",
		"http://xn--bcher-kva.example.test:8080/",
		"http://172.32.0.1/",  // just past 172.16.0.0/12
		"http://100.128.0.1/", // just past 100.64.0.0/10
		"http://[2a00:1450:4001::200e]/",
	} {
		if err := g.CheckURL(context.Background(), u); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", u, err)
		}
	}
	if n := r.count("Hooks.Example.Test"); n != 1 {
		t.Errorf("resolver saw Hooks.Example.Test %d times, want once (without the final dot)", n)
	}
}

// A host name that resolves to 127.0.0.1 is refused without an allow-list and accepted when
// 127.0.0.0/8 is allowed; every resolved address must be allowed.
func TestCheckURLHostNameResolvingToLoopback(t *testing.T) {
	r := newResolver("evil.test", "127.0.0.1", "mixed.test", "93.184.216.34,10.0.0.1",
		"mapped.test", "::ffff:127.0.0.1")
	const u = "http://evil.test:8080/hook"
	err := newGuard(t, r).CheckURL(context.Background(), u)
	checkValidation(t, u, err, `url host "evil.test" resolves to a loopback address; add it to webhooks.allow_cidrs to allow internal receivers`)
	var de *inventory.Error
	if errors.As(err, &de) && strings.Contains(de.Message, "127.0.0.1") {
		t.Errorf("message shows what the name resolved to: %q", de.Message)
	}
	var re *egress.RefusedError
	if !errors.As(err, &re) || re.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("cause = %v, want a *RefusedError for 127.0.0.1 (for the logs)", err)
	}

	allowed := newGuard(t, r, "127.0.0.0/8")
	for _, ok := range []string{u, "http://mapped.test/", "http://127.0.0.1:1/", "http://[::ffff:127.0.0.2]/"} {
		if err := allowed.CheckURL(context.Background(), ok); err != nil {
			t.Errorf("with 127.0.0.0/8 allowed, CheckURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"http://[::1]/", "http://10.0.0.1/", "http://mixed.test/"} {
		if err := allowed.CheckURL(context.Background(), bad); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("with 127.0.0.0/8 allowed, CheckURL(%q) = %v, want refused", bad, err)
		}
	}
	mixed := newGuard(t, r, "10.0.0.0/8")
	if err := mixed.CheckURL(context.Background(), "http://mixed.test/"); err != nil {
		t.Errorf("mixed.test with 10.0.0.0/8 allowed: %v", err)
	}
}

// No allow-list opens unspecified, multicast or broadcast addresses.
func TestAllowListCannotOpenNonUnicast(t *testing.T) {
	g := newGuard(t, newResolver(), "0.0.0.0/0", "::/0")
	for _, u := range []string{"http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://255.255.255.255/", "http://[ff02::1]/"} {
		err := g.CheckURL(context.Background(), u)
		checkValidation(t, u, err, "never a webhook receiver")
	}
	for _, u := range []string{"http://127.0.0.1/", "http://169.254.169.254/", "http://[fe80::1]/"} {
		if err := g.CheckURL(context.Background(), u); err != nil {
			t.Errorf("allow 0.0.0.0/0: CheckURL(%q) = %v", u, err)
		}
	}
}

func TestCheckAddrAllowLoopback(t *testing.T) {
	g, err := egress.New(configs.Webhooks{AllowLoopback: true}, newResolver())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"} {
		if err := g.CheckAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("allow_loopback: CheckAddr(%s) = %v", a, err)
		}
	}
	if err := g.CheckAddr(netip.MustParseAddr("10.0.0.1")); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("allow_loopback: CheckAddr(10.0.0.1) = %v, want refused", err)
	}
	if _, err := egress.New(configs.Webhooks{AllowCIDRs: []string{"nonsense"}}, nil); err == nil {
		t.Error("New accepted a bad allow-list")
	}
}

func TestCheckURLContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := cancelResolver{}
	if err := newGuard(t, r).CheckURL(ctx, "http://slow.test/"); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckURL with a canceled context = %v, want context.Canceled", err)
	}
}

type cancelResolver struct{}

func (cancelResolver) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	return nil, ctx.Err()
}
