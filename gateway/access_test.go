package gateway_test

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testlog"
)

// accessLines returns the access-log lines written to b so far and empties it.
func accessLines(t *testing.T, b *testlog.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.Take()), "\n") {
		var m map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// X-Request-Id is taken from the client when it is valid (else a new one is made), echoed on
// every answer, and each request writes exactly one structured access-log line: method, the
// route template (never the raw path), status, duration, key id and request id.
func TestRequestIDAndAccessLog(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	reader := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead)})
	var logs testlog.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g := c.StartGateway(t, gateway.Options{Logger: logger}, nil)
	g.Product("LOG-1", 0, "3")
	adminID, _, err := auth.ParseToken(c.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	accessLines(t, &logs)

	for _, tc := range []struct {
		name, method, path, token, sentID string
		status                            int
		route, keyID                      string
		keepID                            bool
	}{
		{"read with an id", "GET", "/v1/products/LOG-1", reader.Token, "order-42:attempt-1", 200, "/v1/products/{sku}", reader.Key.ID, true},
		{"uuid", "GET", "/v1/products/LOG-1", reader.Token, "5f0c2a7e-3b1d-4e8f-9a6b-0c1d2e3f4a5b", 200, "/v1/products/{sku}", reader.Key.ID, true},
		{"no id", "POST", "/v1/products/LOG-1/adjustments", c.AdminToken, "", 200, "/v1/products/{sku}/adjustments", adminID, false},
		{"id with a space", "GET", "/v1/products/LOG-1", reader.Token, "bad id", 200, "/v1/products/{sku}", reader.Key.ID, false},
		{"id too long", "GET", "/v1/products/LOG-1", reader.Token, strings.Repeat("a", 129), 200, "/v1/products/{sku}", reader.Key.ID, false},
		{"no key", "GET", "/v1/products/LOG-1", "", "refused-1", 401, "/v1/products/{sku}", "", true},
		{"wrong scope", "POST", "/v1/products/LOG-1/adjustments", reader.Token, "refused-2", 403, "/v1/products/{sku}/adjustments", reader.Key.ID, true},
		{"unknown path", "GET", "/v1/nothing/here", "", "nf-1", 404, "not_found", "", true},
		{"wrong method", "DELETE", "/v1/products/LOG-1", "", "mna-1", 405, "method_not_allowed", "", true},
		{"health", "GET", "/healthz", "", "probe-1", 200, "/healthz", "", true},
		{"stream refused", "GET", "/v1/events/stream", "", "sse-1", 401, "/v1/events/stream", "", true},
	} {
		var body any
		if tc.method == "POST" {
			body = `{"delta":1,"reason":"receive"}`
		}
		var headers []string
		if tc.sentID != "" {
			headers = []string{"X-Request-Id", tc.sentID}
		}
		r := g.As(tc.token).Do(tc.method, tc.path, body, headers...)
		echoed := r.Header.Get("X-Request-Id")
		if r.Status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.Status, tc.status, r.Raw)
		}
		if tc.keepID && echoed != tc.sentID || !tc.keepID && !generatedID.MatchString(echoed) {
			t.Errorf("%s: X-Request-Id %q echoed for %q", tc.name, echoed, tc.sentID)
		}
		// The line is written once the answer is out: wait for it, then for any extra one.
		var lines []map[string]any
		for start := time.Now(); len(lines) == 0 && time.Since(start) < 2*time.Second; time.Sleep(5 * time.Millisecond) {
			lines = accessLines(t, &logs)
		}
		time.Sleep(20 * time.Millisecond)
		lines = append(lines, accessLines(t, &logs)...)
		if len(lines) != 1 {
			t.Fatalf("%s: %d access-log lines, want 1: %v", tc.name, len(lines), lines)
		}
		l := lines[0]
		if l["method"] != tc.method || l["route"] != tc.route || l["status"] != float64(tc.status) || l["key_id"] != tc.keyID ||
			l["request_id"] != echoed || l["level"] != "INFO" {
			t.Errorf("%s: access log %v", tc.name, l)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s: duration_ms %v", tc.name, l["duration_ms"])
		}
	}
}
