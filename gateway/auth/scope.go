package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Scope is a permission an API key grants. Scopes are independent: admin does not imply read,
// and write does not imply read; a key gets exactly the scopes it was created with.
type Scope string

// The scopes.
const (
	// ScopeRead: GET of products, reports (stats), alerts and events.
	ScopeRead Scope = "read"
	// ScopeWrite: products, adjustments, stock set, lots (and imports, stocktakes).
	ScopeWrite Scope = "write"
	// ScopeReserve: reservations (create, get, commit, release).
	ScopeReserve Scope = "reserve"
	// ScopeAdmin: webhooks, keys, topology and job endpoints, redeliver, acknowledge, and every
	// /v1 route the table does not name.
	ScopeAdmin Scope = "admin"
)

// AllScopes lists every scope in canonical order.
var AllScopes = []Scope{ScopeRead, ScopeWrite, ScopeReserve, ScopeAdmin}

func (s Scope) bit() ScopeSet {
	for i, a := range AllScopes {
		if a == s {
			return 1 << i
		}
	}
	return 0
}

// ScopeSet is a set of scopes.
type ScopeSet uint8

// NewScopeSet returns the set of the given scopes (unknown ones are left out).
func NewScopeSet(scopes ...Scope) ScopeSet {
	var set ScopeSet
	for _, s := range scopes {
		set |= s.bit()
	}
	return set
}

// ParseScopes parses a comma-separated list such as "read,write" (spaces around names are
// ignored). It fails on an empty list or an unknown scope.
func ParseScopes(list string) (ScopeSet, error) {
	return ParseScopeNames(strings.Split(list, ","))
}

// ParseScopeNames parses scope names. It fails on an empty list or an unknown scope.
func ParseScopeNames(names []string) (ScopeSet, error) {
	var set ScopeSet
	for _, n := range names {
		n = strings.TrimSpace(n)
		b := Scope(n).bit()
		if b == 0 {
			return 0, fmt.Errorf("unknown scope %q (scopes: read, write, reserve, admin)", n)
		}
		set |= b
	}
	if set == 0 {
		return 0, fmt.Errorf("at least one scope is needed (read, write, reserve, admin)")
	}
	return set, nil
}

// Has reports whether the set holds s.
func (set ScopeSet) Has(s Scope) bool { b := s.bit(); return b != 0 && set&b == b }

// List returns the scopes of the set in canonical order.
func (set ScopeSet) List() []Scope {
	out := []Scope{}
	for _, s := range AllScopes {
		if set.Has(s) {
			out = append(out, s)
		}
	}
	return out
}

// Names returns the scope names of the set in canonical order, as the metadata store keeps them.
func (set ScopeSet) Names() []string {
	out := []string{}
	for _, s := range set.List() {
		out = append(out, string(s))
	}
	return out
}

// String returns the comma-separated scope names, e.g. "read,write".
func (set ScopeSet) String() string { return strings.Join(set.Names(), ",") }

// MarshalJSON writes the set as an array of names.
func (set ScopeSet) MarshalJSON() ([]byte, error) { return json.Marshal(set.Names()) }

// scopeRule gives the scope of the routes under prefix (or ending in suffix): get for GET and
// HEAD, other for every other method.
type scopeRule struct {
	prefix, suffix string
	get, other     Scope
}

// scopeRules is the route→scope table; the first rule that matches decides. Actions on a
// resource (redeliver, acknowledge) come first so that they are admin wherever they live.
var scopeRules = []scopeRule{
	{suffix: "/redeliver", get: ScopeAdmin, other: ScopeAdmin},
	{suffix: "/acknowledge", get: ScopeAdmin, other: ScopeAdmin},
	{prefix: "/v1/webhooks", get: ScopeAdmin, other: ScopeAdmin},
	{prefix: "/v1/keys", get: ScopeAdmin, other: ScopeAdmin},
	{prefix: "/v1/topology", get: ScopeAdmin, other: ScopeAdmin},
	{prefix: "/v1/jobs", get: ScopeAdmin, other: ScopeAdmin},
	{prefix: "/v1/reservations", get: ScopeReserve, other: ScopeReserve},
	{prefix: "/v1/products", get: ScopeRead, other: ScopeWrite},
	{prefix: "/v1/imports", get: ScopeRead, other: ScopeWrite},
	{prefix: "/v1/stocktakes", get: ScopeRead, other: ScopeWrite},
	{prefix: "/v1/stats", get: ScopeRead, other: ScopeAdmin},
	{prefix: "/v1/alerts", get: ScopeRead, other: ScopeAdmin},
	{prefix: "/v1/events", get: ScopeRead, other: ScopeAdmin},
	{prefix: "/v1/replenishment", get: ScopeRead, other: ScopeAdmin},
	{prefix: "/v1/anomalies", get: ScopeRead, other: ScopeAdmin},
}

// publicRoutes need no key: liveness, readiness and the API description. /metrics needs admin on
// the API listener (it tells a lot about the traffic); the admin listener serves it without a
// key.
var publicRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/v1/openapi.json": true}

// RequiredScope returns the scope a request with method to route (the gorilla/mux path template,
// e.g. "/v1/products/{sku}/adjustments", or a concrete path) needs, and false when the route
// needs no key at all. Routes the table does not name need admin: a new endpoint is closed until
// it is given a scope here.
func RequiredScope(method, route string) (Scope, bool) {
	if publicRoutes[route] {
		return "", false
	}
	read := method == http.MethodGet || method == http.MethodHead
	for _, r := range scopeRules {
		if (r.prefix != "" && under(route, r.prefix)) || (r.suffix != "" && strings.HasSuffix(route, r.suffix)) {
			if read {
				return r.get, true
			}
			return r.other, true
		}
	}
	return ScopeAdmin, true
}

// under reports whether path is prefix or below it ("/v1/products/x" is under "/v1/products",
// "/v1/productsx" is not).
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
