package gateway

import "net/http"

// Test hooks: what the route matrix tests (auth_test.go, meta_freeze_test.go, package
// gateway_test) iterate.

// RouteForTest is one route a gateway serves: method, path template, whether it needs no key,
// the scope it needs otherwise, whether it is a JSON business call of the route table (the
// others are the event stream, health and metrics) and whether it accepts an Idempotency-Key.
type RouteForTest struct {
	Method, Path string
	Public       bool
	Scope        string
	Table        bool
	Idempotent   bool
}

// RoutesForTest returns every route of s: the route table, then the other endpoints.
func (s *Server) RoutesForTest() []RouteForTest {
	hs := s.handlers()
	var out []RouteForTest
	for _, rt := range hs.routes() {
		a := routeAccess(rt.method, rt.path)
		out = append(out, RouteForTest{Method: rt.method, Path: rt.path, Public: a.public, Scope: string(a.scope), Table: true,
			Idempotent: rt.idempotent})
	}
	for _, o := range s.otherRoutes(hs) {
		a := routeAccess("GET", o.path)
		out = append(out, RouteForTest{Method: "GET", Path: o.path, Public: a.public, Scope: string(a.scope)})
	}
	return out
}

// AdmitForTest runs the access check of method on the route template path for a request with
// header h (authentication, scope, rate limit).
func (s *Server) AdmitForTest(h http.Header, method, path string) error {
	_, err := s.admit(h, routeAccess(method, path))
	return err
}

// BodyRoutes returns the method and path template of every route in the table that reads a
// request body (POST and PUT), so that tests cover routes added later without being edited.
func BodyRoutes() [][2]string {
	var out [][2]string
	for _, rt := range (handlers{}).routes() {
		if rt.method == http.MethodPost || rt.method == http.MethodPut {
			out = append(out, [2]string{rt.method, rt.path})
		}
	}
	return out
}
