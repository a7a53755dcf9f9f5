package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// Faults found by hostile input. Every test here failed before its fix.

// Any top-level JSON that is not an object is 400 invalid_request on every route that reads a
// body, and changes nothing: `null` used to decode as {} (a commit with body null committed).
func TestNonObjectBodiesRefusedOnEveryBodyEndpoint(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Expect(g.Do("PUT", "/v1/products/NULL-1", `{"name":"n","category":"c","scale":0,"low_stock_threshold":5}`), 201, "")
	g.Expect(g.Do("POST", "/v1/products/NULL-1/adjustments", `{"delta":3,"reason":"receive"}`), 200, "") // 3 <= 5: an alert opens
	res := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o1","lines":[{"sku":"NULL-1","quantity":1}]}`), 201, "")
	wh := g.Expect(g.Do("POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/x","secret":"0123456789abcdef"}`), 201, "")
	alerts := g.Expect(g.Do("GET", "/v1/alerts", nil), 200, "")
	list, _ := alerts.Body["alerts"].([]any)
	if len(list) == 0 {
		t.Fatalf("no alert opened: %s", alerts.Raw)
	}
	alertID, _ := list[0].(map[string]any)["id"].(string)
	values := map[string]string{
		"/v1/products/{sku}":    "NULL-1",
		"/v1/reservations/{id}": res.Str("id"),
		"/v1/webhooks/{id}":     wh.Str("id"),
		"/v1/alerts/{id}":       alertID,
	}
	state := func() string {
		p := g.Do("GET", "/v1/products/NULL-1", nil)
		r := g.Do("GET", "/v1/reservations/"+res.Str("id"), nil)
		a := g.Do("GET", "/v1/alerts", nil)
		w := g.Do("GET", "/v1/webhooks/"+wh.Str("id"), nil) // its positions may move: only its existence counts
		return fmt.Sprintf("%s %s %s %s %s %d", p.Num("on_hand"), p.Num("reserved"), p.Num("version"), r.Str("status"), a.Raw, w.Status)
	}
	before := state()
	routes := gateway.BodyRoutes()
	if len(routes) < 10 {
		t.Fatalf("only %d body routes: %v", len(routes), routes)
	}
	for _, rt := range routes {
		path := rt[1]
		for prefix, v := range values {
			if strings.HasPrefix(path, prefix) {
				path = strings.Replace(path, prefix[strings.LastIndex(prefix, "{"):], url.PathEscape(v), 1)
			}
		}
		if strings.Contains(path, "{") {
			t.Errorf("%s %s: no sample value for its path variable; add one to this test", rt[0], rt[1])
			continue
		}
		for _, body := range []string{`null`, ` null`, `[]`, `[{}]`, `"x"`, `1`, `true`, `false`} {
			r := g.Do(rt[0], path, body)
			if r.Status != 400 || r.ErrorCode() != "invalid_request" {
				t.Errorf("%s %s with body %s: %d %s, want 400 invalid_request", rt[0], path, body, r.Status, r.Raw)
			}
		}
	}
	if after := state(); after != before {
		t.Errorf("refused requests changed something:\nbefore %s\nafter  %s", before, after)
	}
	c.RequireInvariants(t, false)
}

// Text that is not valid UTF-8 (raw bytes, or an unpaired surrogate escape) used to be stored as
// U+FFFD; it is 422 validation_failed naming the field, and nothing is stored.
func TestInvalidUTF8TextRefused(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("UTF-OK", 0, "10")
	tests := []struct{ method, path, body, field string }{
		{"PUT", "/v1/products/UTF-1", "{\"name\":\"bad \xff name\",\"category\":\"c\",\"scale\":0}", "name"},
		{"PUT", "/v1/products/UTF-1", "{\"name\":\"n\",\"category\":\"caf\xc3\",\"scale\":0}", "category"},
		{"PUT", "/v1/products/UTF-1", `{"name":"n\udc00","category":"c","scale":0}`, "name"},
		{"PUT", "/v1/products/UTF-1", `{"name":"n","category":"\ud800x","scale":0}`, "category"},
		{"POST", "/v1/reservations", "{\"order_id\":\"o\xfe\",\"lines\":[{\"sku\":\"UTF-OK\",\"quantity\":1}]}", "order_id"},
		{"POST", "/v1/reservations", `{"order_id":"o\udfff","lines":[{"sku":"UTF-OK","quantity":1}]}`, "order_id"},
		{"POST", "/v1/reservations", "{\"order_id\":\"o\",\"lines\":[{\"sku\":\"UTF-OK\",\"quantity\":1},{\"sku\":\"A\x80\",\"quantity\":1}]}", "lines[1].sku"},
		{"POST", "/v1/products/UTF-OK/adjustments", "{\"delta\":1,\"reason\":\"receive\xff\"}", "reason"},
		{"POST", "/v1/products/UTF-OK/lots", "{\"lot\":\"L\xff\",\"quantity\":1,\"expires_at\":\"2099-01-01T00:00:00Z\"}", "lot"},
		{"POST", "/v1/webhooks", "{\"url\":\"http://127.0.0.1:9/\",\"secret\":\"0123456789abcdef\xff\"}", "secret"},
		{"POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/\udc00","secret":"0123456789abcdef"}`, "url"},
	}
	for _, tt := range tests {
		r := g.Do(tt.method, tt.path, tt.body)
		if r.Status != 422 || r.ErrorCode() != "validation_failed" {
			t.Errorf("%s %s %q: %d %s, want 422 validation_failed", tt.method, tt.path, tt.body, r.Status, r.Raw)
			continue
		}
		if d, _ := r.Body["error"].(map[string]any)["details"].(map[string]any); d["field"] != tt.field {
			t.Errorf("%s %s %q: details %v, want field %q", tt.method, tt.path, tt.body, d, tt.field)
		}
	}
	g.Expect(g.Do("GET", "/v1/products/UTF-1", nil), 404, "not_found")
	if r := g.Do("GET", "/v1/products/UTF-OK", nil); r.Num("on_hand") != "10" || r.Num("reserved") != "0" || r.Num("version") != "2" {
		t.Errorf("refused requests changed UTF-OK: %s", r.Raw)
	}
	if r := g.Expect(g.Do("GET", "/v1/webhooks", nil), 200, ""); strings.Contains(string(r.Raw), "wh_") {
		t.Errorf("a refused webhook was stored: %s", r.Raw)
	}
	// Valid text, escaped or not, including U+FFFD itself, is stored as sent.
	g.Expect(g.Do("PUT", "/v1/products/UTF-2", `{"name":"caf\u00e9 \ud83d\ude00 \ufffd","category":"c","scale":0}`), 201, "")
	if r := g.Do("GET", "/v1/products/UTF-2", nil); r.Str("name") != "café 😀 \ufffd" {
		t.Errorf("name stored as %q", r.Str("name"))
	}
}

// rawRequest sends one request line and headers over a fresh connection and returns the
// answer: no client library cleans or re-encodes the path on the way.
func rawRequest(t *testing.T, base, method, target string) (*http.Response, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, target, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// No path is answered with a redirect: gorilla/mux used to answer paths with "//", "/./" or
// "/../" (also %2F-encoded) with a 301 to the cleaned path (Location: /etc/passwd). Every answer
// is JSON with the error envelope.
func TestPathsAreNeverRedirected(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	g := c.StartGateway(t, gateway.Options{}, nil)
	for _, target := range []string{
		"/v1/products/..%2F..%2Fetc%2Fpasswd",
		"/v1/products/%2e%2e/%2e%2e/etc/passwd",
		"/v1/products/../../etc/passwd",
		"/v1//products",
		"//v1/products",
		"/./v1/products",
		"/v1/./products",
		"/v1/products/../products",
		"/v1/products/",
		"/v1/products/A%2FB",
		"/v1/reservations/..%2Fx/commit",
		"/metrics/..",
		"/healthz/.",
	} {
		resp, body := rawRequest(t, g.Base, "GET", target)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 || resp.Header.Get("Location") != "" {
			t.Errorf("GET %s: %d Location %q, want no redirect", target, resp.StatusCode, resp.Header.Get("Location"))
			continue
		}
		if resp.StatusCode != 404 && resp.StatusCode != 422 || resp.Header.Get("Content-Type") != "application/json" ||
			!strings.HasPrefix(body, `{"error":{"code":"`) {
			t.Errorf("GET %s: %d %s %s, want a 404 or 422 JSON error envelope", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

// A body sent slowly (one byte now and then) is cut off at the request timeout with 400
// invalid_request, and the connection is closed; it used to be read for as long as the client
// kept sending.
func TestSlowRequestBodyTimesOut(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = time.Second })
	g.Product("SLOW-1", 0, "5")
	u, _ := url.Parse(g.Base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"delta":1,"reason":"receive"}`
	fmt.Fprintf(conn, "POST /v1/products/SLOW-1/adjustments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		c.AdminToken, len(body))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 500 ms: the whole body would take 15 s
		for i := 0; i < len(body)-1; i++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	// A budget, not a timing claim: the answer must come long before the body would be complete.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body trickled in: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(raw), `"invalid_request"`) || !strings.Contains(string(raw), "request timeout") {
		t.Errorf("slow body: %d %s, want 400 invalid_request naming the request timeout", resp.StatusCode, raw)
	}
	if !resp.Close {
		t.Error("the answer does not close the connection (Connection: close)")
	}
	if r := g.Do("GET", "/v1/products/SLOW-1", nil); r.Num("on_hand") != "5" {
		t.Errorf("on_hand %s after the refused adjustment, want 5", r.Num("on_hand"))
	}
	// The same body sent at once is served.
	g.Expect(g.Do("POST", "/v1/products/SLOW-1/adjustments", body), 200, "")
}

// A request refused by authentication is answered without waiting for its body: a client
// without a key cannot hold a connection by trickling one in.
func TestRefusedRequestDoesNotWaitForItsBody(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	g := c.StartGateway(t, gateway.Options{}, nil)
	u, _ := url.Parse(g.Base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers only: the announced body never comes.
	fmt.Fprintf(conn, "POST /v1/products/SLOW-2/adjustments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to an unauthenticated request whose body never came: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !resp.Close {
		t.Errorf("got %d (close %v), want 401 with Connection: close", resp.StatusCode, resp.Close)
	}
}

// Made-up methods share one metric label ("other"); they used to create a series each.
func TestUnknownMethodsShareOneMetricLabel(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	g := c.StartGateway(t, gateway.Options{}, nil)
	for i := 0; i < 5; i++ {
		for _, path := range []string{"/v1/nope", "/v1/products/A/nope"} {
			r := g.Do(fmt.Sprintf("XYZ-ATTACK-%d", i), path, nil)
			if r.Status != 404 && r.Status != 405 {
				t.Errorf("XYZ-ATTACK %s: %d %s", path, r.Status, r.Raw)
			}
		}
	}
	g.Expect(g.Do("GET", "/v1/nope", nil), 404, "not_found")
	metrics := string(g.Do("GET", "/metrics", nil).Raw)
	if strings.Contains(metrics, "XYZ") {
		t.Errorf("a made-up method became a label:\n%s", grepLines(metrics, "XYZ"))
	}
	if !strings.Contains(metrics, `shardstock_http_requests_total{method="other",route="not_found",status="404"} 10`) ||
		!strings.Contains(metrics, `shardstock_http_requests_total{method="GET",route="not_found",status="404"} 1`) {
		t.Errorf("want 10 requests labelled other and 1 GET on not_found:\n%s", grepLines(metrics, "shardstock_http_requests_total"))
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "shardstock_http_requests_total{") && !strings.Contains(line, `route="/`) &&
			!strings.Contains(line, `route="not_found"`) {
			t.Errorf("route label that is not a template: %s", line)
		}
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A 503 names the shard and a generic cause, never its address; it used to say
// "dial tcp 127.0.0.1:33495: connect: connection refused".
func TestShardUnavailableHidesTheAddress(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 2, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = 5 * time.Second })
	skus := c.SKUsPerShard(t, "ADDR")
	g.Product(skus[1], 0, "1")
	_, port, _ := net.SplitHostPort(servers[1].Addr)
	if err := servers[1].Stop(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []clustertest.Response{
		g.Do("GET", "/v1/products/"+skus[1], nil),
		g.Do("POST", "/v1/products/"+skus[1]+"/adjustments", `{"delta":1,"reason":"receive"}`),
		g.Do("GET", "/v1/stats/summary", nil),
		g.Do("GET", "/readyz", nil),
	} {
		if r.Status != 503 || !strings.Contains(string(r.Raw), c.Shards[1].Name) {
			t.Errorf("want 503 naming %s: %d %s", c.Shards[1].Name, r.Status, r.Raw)
		}
		for _, leak := range []string{port, "127.0.0.1", "dial", "tcp", "connect:"} {
			if strings.Contains(string(r.Raw), leak) {
				t.Errorf("503 shows %q: %s", leak, r.Raw)
			}
		}
	}
}
