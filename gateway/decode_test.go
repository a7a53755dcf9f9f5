package gateway

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/inventory"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Strict decoding answers every malformed body with the same code and message as ever: the
// golden file pins them (unknown fields at any depth, wrong types, syntax errors, trailing data,
// and their combinations, where the first problem in the document wins).
func TestDecodeStrictMessages(t *testing.T) {
	targets := map[string]func() any{
		"reservation": func() any { return &createReservationRequest{} },
		"product":     func() any { return &putProductRequest{} },
		"adjustment":  func() any { return &adjustmentRequest{} },
		"lot":         func() any { return &receiveLotRequest{} },
		"webhook":     func() any { return &webhookRequest{} },
		"empty":       func() any { return &struct{}{} },
	}
	cases := []struct{ target, body string }{
		{"product", ``},
		{"product", `   `},
		{"product", `{"name":"x"}`},
		{"product", `{"name":"x","colour":"red"}`},
		{"product", `{"colour":"red","name":"x"}`},
		{"product", `{"NAME":"x"}`},
		{"product", `{"Name":"x","Colour":1}`},
		{"product", `{"name":1}`},
		{"product", `{"colour":"red","name":1}`},
		{"product", `{"name":1,"colour":"red"}`},
		{"product", `{"scale":"2"}`},
		{"product", `{"ſcale":2}`},
		{"product", `{"\u017fcale":2,"na\u006de":"x"}`},
		{"product", `{"\u017fcalex":2}`},
		{"product", `{"name":"x","name\u0000":1}`},
		{"product", `{"scale":1.5}`},
		{"product", `{"scale":99999999999999999999}`},
		{"product", `{"low_stock_threshold":"1"}`},
		{"product", `{"low_stock_threshold":"1","zzz":1}`},
		{"product", `{"zzz":1,"low_stock_threshold":"1"}`},
		{"product", `{"name":"x"} {}`},
		{"product", `{"name":"x"} x`},
		{"product", `{"name":"x",}`},
		{"product", `{"name":"x"`},
		{"product", `{"zzz":1,"name":`},
		{"product", `[]`},
		{"product", `"x"`},
		{"product", `null`},
		{"product", ` null `},
		{"product", `1`},
		{"product", `-1`},
		{"product", `true`},
		{"product", `false`},
		{"product", `nul`},
		{"product", `x`},
		{"product", `{"name":null,"category":null}`},
		{"reservation", `{"order_id":"1","lines":[{"sku":"A","quantity":1}]}`},
		{"reservation", `{"order_id":"1","lines":[{"sku":"A","quantity":1,"extra":true}]}`},
		{"reservation", `{"order_id":"1","lines":[{"sku":"A","quantity":"1"}]}`},
		{"reservation", `{"order_id":"1","lines":[{"sku":"A","quantity":"1","extra":true}]}`},
		{"reservation", `{"order_id":"1","lines":[{"extra":true,"sku":"A","quantity":"1"}]}`},
		{"reservation", `{"order_id":"1","lines":[{"sku":"A","quantity":1},{"sku":"B","qty":1}]}`},
		{"reservation", `{"order_id":"1","lines":{"sku":"A"}}`},
		{"reservation", `{"order_id":"1","lines":"x","other":1}`},
		{"reservation", `{"other":{"deep":[{"x":1}]},"order_id":1}`},
		{"reservation", `{"ttl_seconds":1.5}`},
		{"reservation", `{"commit":"yes"}`},
		{"reservation", `{"Lines":[{"SKU":"A","Quantity":1}],"ORDER_ID":"x"}`},
		{"reservation", `{"lines":[{"sku":"A","quantity":1}],"lines":[{"sku":"B","bad":1}]}`},
		{"adjustment", `{"delta":1,"reason":"receive","expected_version":1.5}`},
		{"adjustment", `{"delta":true}`},
		{"adjustment", `{"delta":{}}`},
		{"adjustment", `{"delta":[1]}`},
		{"adjustment", `{"delta":1e3,"reason":"receive"}`},
		{"lot", `{"lot":"L1","quantity":1,"expires_at":"2030-01-01T00:00:00Z","note":"x"}`},
		{"webhook", `{"url":"http://x","event_types":["a",1]}`},
		{"webhook", `{"url":"http://x","event_types":"a"}`},
		{"webhook", `{"url":"http://x","secret":"0123456789abcdef","headers":{}}`},
		{"empty", `{}`},
		{"empty", `{"a":1}`},
		{"empty", `{"a":1,"b":2}`},
		{"empty", `[1]`},
		{"empty", `{"a":`},
	}
	var got strings.Builder
	for _, tc := range cases {
		err := decodeStrict([]byte(tc.body), targets[tc.target]())
		fmt.Fprintf(&got, "%s %s\n\t", tc.target, tc.body)
		var de *inventory.Error
		switch {
		case err == nil:
			got.WriteString("ok\n")
		case errors.As(err, &de):
			d, _ := json.Marshal(de.Details)
			fmt.Fprintf(&got, "%s %q %s\n", de.Code, de.Message, d)
		default:
			fmt.Fprintf(&got, "not a domain error: %v\n", err)
		}
	}
	golden := filepath.Join("testdata", "decode_strict.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("decode messages changed (run with -update only if the change is intended):\n%s", diffLines(string(want), got.String()))
	}
}

// diffLines lists the lines that differ between want and got.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			fmt.Fprintf(&out, "line %d\n  want %s\n  got  %s\n", i+1, a, b)
		}
	}
	return out.String()
}

// Text that encoding/json would turn into U+FFFD (invalid UTF-8, an unpaired surrogate escape)
// is refused with the field it was sent in; valid text, escaped or not, passes.
func TestDecodeStrictRefusesInvalidText(t *testing.T) {
	type line struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	type target struct {
		Name  string            `json:"name"`
		Lines []line            `json:"lines"`
		Tags  []string          `json:"tags"`
		Meta  map[string]string `json:"meta"`
	}
	tests := []struct {
		body  string
		field string // "" = accepted
	}{
		{`{"name":"caf\u00e9 \ud83d\ude00 \uFFFD \u0041"}`, ""},
		{"{\"name\":\"caf\u00e9 \U0001F600 \uFFFD\"}", ""},
		{"{\"name\":\"\xff\"}", "name"},
		{"{\"name\":\"ok\",\"lines\":[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"B\xc3\",\"quantity\":1}]}", "lines[1].sku"},
		{`{"name":"a\udc00"}`, "name"},
		{`{"name":"a\uD800"}`, "name"},
		{`{"name":"a\ud800\u0041"}`, "name"},
		{`{"name":"a\ud800\ud800"}`, "name"},
		{`{"tags":["ok","x\udfff"]}`, "tags[1]"},
		{`{"lines":[{"sku":"A"}],"tags":["\ud83d\ude00"],"meta":{"k":"\ud800"}}`, "meta.k"},
		{"{\"name\":\"\xed\xa0\x80\"}", "name"}, // a surrogate encoded in UTF-8 is invalid UTF-8
	}
	for _, tt := range tests {
		var v target
		err := decodeStrict([]byte(tt.body), &v)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%q: %v, want it accepted", tt.body, err)
			}
			continue
		}
		var de *inventory.Error
		if !errors.As(err, &de) || de.Code != inventory.CodeValidation || de.Details["field"] != tt.field {
			t.Errorf("%q: %v, want validation_failed for field %q", tt.body, err, tt.field)
		}
	}
}
