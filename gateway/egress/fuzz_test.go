package egress_test

import (
	"context"
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/inventory"
)

// hashResolver resolves every name without the network: by a hash of the name, to 127.0.0.1,
// to 93.184.216.34, or not at all.
type hashResolver struct{}

func (hashResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch answerFor(host) {
	case 0:
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	case 1:
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	default:
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

func answerFor(host string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(host)))
	return h.Sum32() % 3
}

// FuzzCheckURL: CheckURL never panics, answers only validation errors on "url", and whatever
// it accepts is an http(s) URL without user info whose host is public.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://93.184.216.34/", "https://hooks.example.test/x", "http://127.0.0.1/", "http://[::ffff:127.0.0.1]/",
		"http://2130706433/", "http://0x7f.1/", "http://[fe80::1%25eth0]/", "http://u:p@h.test/", "http:127.0.0.1",
		"http://[64:ff9b::7f00:1]/", "http://h.test:65536/", "HTTP://A.TEST./", "http://%5B::1%5D/", "http://a.test\\@127.0.0.1/",
		"http://[::1]:80%2f/", "https://xn--n3h.test/", "http://1.2.3.4:0x50/",
	} {
		f.Add(s)
	}
	g, err := egress.New(configs.Webhooks{}, hashResolver{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(context.Background(), raw)
		if err != nil {
			var de *inventory.Error
			if !errors.As(err, &de) || de.Code != inventory.CodeValidation || de.Details["field"] != "url" {
				t.Fatalf("CheckURL(%q) = %v, want a validation error on url", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Hostname() == "" {
			t.Fatalf("CheckURL accepted %q", raw)
		}
		host := u.Hostname()
		if a, aerr := netip.ParseAddr(host); aerr == nil {
			if g.CheckAddr(a) != nil {
				t.Fatalf("CheckURL accepted %q with a refused address", raw)
			}
			return
		}
		if answerFor(strings.TrimSuffix(host, ".")) != 1 {
			t.Fatalf("CheckURL accepted %q whose host does not resolve to a public address", raw)
		}
	})
}
