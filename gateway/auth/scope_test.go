package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/shardstock/shardstock/inventory"
)

func TestParseScopes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = error
	}{
		{"read", "read"},
		{"read,write,reserve,admin", "read,write,reserve,admin"},
		{"admin, read", "read,admin"},
		{"write,write", "write"},
		{"", ""},
		{",", ""},
		{"read,", ""},
		{"Read", ""},
		{"superuser", ""},
	} {
		got, err := ParseScopes(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseScopes(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	set := NewScopeSet(ScopeRead, ScopeAdmin, "bogus")
	if !set.Has(ScopeRead) || set.Has(ScopeWrite) || set.Has("bogus") || set.Has("") {
		t.Errorf("Has is wrong for %v", set)
	}
	if b, _ := json.Marshal(set); string(b) != `["read","admin"]` {
		t.Errorf("JSON = %s", b)
	}
	if b, _ := json.Marshal(ScopeSet(0)); string(b) != `[]` {
		t.Errorf("JSON of no scopes = %s", b)
	}
}

// The route→scope table, for every route of the gateway today and the ones the issues announce.
func TestRequiredScope(t *testing.T) {
	const (
		get, head, put, post, del = http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete
	)
	for _, tc := range []struct {
		method, route string
		want          Scope // "" = public
	}{
		{get, "/v1/products", ScopeRead},
		{head, "/v1/products/{sku}", ScopeRead},
		{get, "/v1/products/{sku}", ScopeRead},
		{put, "/v1/products/{sku}", ScopeWrite},
		{post, "/v1/products/{sku}/adjustments", ScopeWrite},
		{put, "/v1/products/{sku}/stock", ScopeWrite},
		{post, "/v1/products/{sku}/lots", ScopeWrite},
		{get, "/v1/products/{sku}/lots", ScopeRead},
		{get, "/v1/products/{sku}/history", ScopeRead},
		{get, "/v1/products/{sku}/forecast", ScopeRead},
		{post, "/v1/reservations", ScopeReserve},
		{get, "/v1/reservations/{id}", ScopeReserve},
		{post, "/v1/reservations/{id}/commit", ScopeReserve},
		{post, "/v1/reservations/{id}/release", ScopeReserve},
		{get, "/v1/stats/summary", ScopeRead},
		{get, "/v1/stats/categories", ScopeRead},
		{get, "/v1/stats/low-stock", ScopeRead},
		{get, "/v1/alerts", ScopeRead},
		{post, "/v1/alerts/{id}/acknowledge", ScopeAdmin},
		{get, "/v1/events", ScopeRead},
		{get, "/v1/events/stream", ScopeRead},
		{get, "/v1/topology", ScopeAdmin},
		{post, "/v1/webhooks", ScopeAdmin},
		{get, "/v1/webhooks", ScopeAdmin},
		{get, "/v1/webhooks/{id}", ScopeAdmin},
		{del, "/v1/webhooks/{id}", ScopeAdmin},
		{get, "/v1/webhooks/{id}/dead-letters", ScopeAdmin},
		{post, "/v1/webhooks/{id}/redeliver", ScopeAdmin},
		{get, "/v1/keys", ScopeAdmin},
		{get, "/v1/jobs/{id}", ScopeAdmin},
		{get, "/v1/anomalies", ScopeRead},
		{post, "/v1/anomalies/{id}/acknowledge", ScopeAdmin},
		{post, "/v1/anomalies/{id}/repair", ScopeAdmin},
		{get, "/v1/replenishment", ScopeRead},
		{post, "/v1/imports", ScopeWrite},
		{post, "/v1/stocktakes", ScopeWrite},
		{get, "/v1/productsx", ScopeAdmin}, // not under /v1/products
		{get, "/v1/unknown", ScopeAdmin},   // closed until the table names it
		{get, "/console/", ScopeAdmin},
		{get, "/healthz", ""},
		{get, "/readyz", ""},
		{get, "/metrics", ScopeAdmin},
		{get, "/v1/openapi.json", ""},
	} {
		got, needsKey := RequiredScope(tc.method, tc.route)
		if needsKey != (tc.want != "") || got != tc.want {
			t.Errorf("RequiredScope(%s %s) = %q, %v; want %q", tc.method, tc.route, got, needsKey, tc.want)
		}
	}
}

func TestPrincipalRequire(t *testing.T) {
	p := Principal{KeyID: "k", Scopes: NewScopeSet(ScopeRead, ScopeReserve)}
	for _, s := range AllScopes {
		err := p.Require(s)
		if p.Scopes.Has(s) != (err == nil) {
			t.Errorf("Require(%s) = %v with scopes %v", s, err, p.Scopes)
		}
		var de *inventory.Error
		if err != nil && (!errors.As(err, &de) || de.Code != inventory.CodeForbidden || de.Details["required_scope"] != string(s)) {
			t.Errorf("Require(%s) = %#v, want forbidden naming the scope", s, err)
		}
	}
}
