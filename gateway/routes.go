package gateway

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardstock/shardstock/inventory"
)

// apiRoute is one business endpoint; its path template is also its metrics label.
type apiRoute struct {
	method, path string
	idempotent   bool // accepts Idempotency-Key
	fn           apiFunc
}

// handlers are the handler groups, each built from the components it needs.
type handlers struct {
	products     *productAPI
	reservations *reservationAPI
	reports      *reportAPI
	events       *eventAPI
	ops          *opsAPI
}

// handlers builds the handler groups from the server's components.
func (s *Server) handlers() handlers {
	cursors := newCursorCodec(s.cursorSecret, s.cluster.Current().Partitions())
	return handlers{
		products:     &productAPI{cluster: s.cluster, cache: s.cache, cursors: cursors, history: newHistoryCodec(s.cursorSecret)},
		reservations: &reservationAPI{saga: s.saga, cluster: s.cluster, defaultTTL: s.cfg.Reservation.DefaultTTL},
		reports:      &reportAPI{cluster: s.cluster, alertCursors: alertCursorCodec(cursors)},
		events:       &eventAPI{events: s.events, cluster: s.cluster, egress: s.egress, log: s.log},
		ops:          &opsAPI{cluster: s.cluster, log: s.log},
	}
}

// routes is the route table: every business endpoint, the handler that serves it and whether
// it accepts an Idempotency-Key.
func (h handlers) routes() []apiRoute {
	return []apiRoute{
		{http.MethodGet, "/v1/products", false, h.products.list},
		{http.MethodPut, "/v1/products/{sku}", true, h.products.put},
		{http.MethodGet, "/v1/products/{sku}", false, h.products.get},
		{http.MethodPost, "/v1/products/{sku}/adjustments", true, h.products.adjust},
		{http.MethodPut, "/v1/products/{sku}/stock", true, h.products.setStock},
		{http.MethodPost, "/v1/products/{sku}/lots", true, h.products.receiveLot},
		{http.MethodGet, "/v1/products/{sku}/lots", false, h.products.listLots},
		{http.MethodGet, "/v1/products/{sku}/history", false, h.products.listHistory},
		{http.MethodPost, "/v1/reservations", true, h.reservations.create},
		{http.MethodGet, "/v1/reservations/{id}", false, h.reservations.get},
		{http.MethodPost, "/v1/reservations/{id}/commit", true, h.reservations.commit},
		{http.MethodPost, "/v1/reservations/{id}/release", true, h.reservations.release},
		{http.MethodGet, "/v1/topology", false, h.ops.topology},
		{http.MethodGet, "/v1/events", false, h.events.listEvents},
		{http.MethodPost, "/v1/webhooks", true, h.events.createWebhook},
		{http.MethodGet, "/v1/webhooks", false, h.events.listWebhooks},
		{http.MethodGet, "/v1/webhooks/{id}", false, h.events.getWebhook},
		{http.MethodDelete, "/v1/webhooks/{id}", false, h.events.deleteWebhook},
		{http.MethodGet, "/v1/webhooks/{id}/dead-letters", false, h.events.listDeadLetters},
		{http.MethodPost, "/v1/webhooks/{id}/redeliver", true, h.events.redeliverWebhook},
		{http.MethodGet, "/v1/stats/summary", false, h.reports.summary},
		{http.MethodGet, "/v1/stats/categories", false, h.reports.categories},
		{http.MethodGet, "/v1/stats/low-stock", false, h.reports.lowStock},
		{http.MethodGet, "/v1/alerts", false, h.reports.listAlerts},
		{http.MethodPost, "/v1/alerts/{id}/acknowledge", true, h.reports.acknowledgeAlert},
		{http.MethodGet, "/readyz", false, h.ops.ready},
	}
}

// routes builds the HTTP handler: the route table through the endpoint wrapper (each route's
// scope from auth.RequiredScope), plus the endpoints that are not JSON business calls (the event
// stream, health, metrics) through guarded.
func (s *Server) routes() http.Handler {
	hs := s.handlers()
	// SkipClean: paths are matched as sent. gorilla/mux would otherwise answer a path with "//",
	// "/./" or "/../" (also %2F-encoded: /v1/products/..%2F..%2Fetc) with a 301 to the cleaned
	// path; such a path matches no route and gets the JSON 404 below.
	r := mux.NewRouter().SkipClean(true)
	// Unknown paths and methods need no key: they do nothing, and every path is documented.
	r.NotFoundHandler = s.endpoint("not_found", public, false, func(*request) (int, any, error) {
		return 0, nil, inventory.Errorf(inventory.CodeNotFound, "no such endpoint")
	})
	r.MethodNotAllowedHandler = s.guarded("method_not_allowed", public, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(encodeJSON(errorBody{errorPayload{"method_not_allowed", "method not allowed on this path", map[string]any{}}}))
	}))
	// Routes are registered on the root router with full paths: gorilla/mux subrouters answer
	// 404 instead of 405 for a known path with the wrong method.
	for _, rt := range hs.routes() {
		r.Handle(rt.path, s.endpoint(rt.path, routeAccess(rt.method, rt.path), rt.idempotent, rt.fn)).Methods(rt.method)
	}
	for _, o := range s.otherRoutes(hs) {
		r.Handle(o.path, s.guarded(o.path, routeAccess(http.MethodGet, o.path), o.h)).Methods(http.MethodGet)
	}
	return r
}

// otherRoute is a GET endpoint that is not a JSON business call.
type otherRoute struct {
	path string
	h    http.Handler
}

// otherRoutes are the event stream (long-lived: no request deadline, no JSON envelope), health
// and metrics (the admin scope here; without a key on admin_listen).
func (s *Server) otherRoutes(hs handlers) []otherRoute {
	return []otherRoute{
		{"/v1/events/stream", http.HandlerFunc(hs.events.streamEvents)},
		{"/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		})},
		{"/metrics", s.metricsHandler()},
	}
}

// metricsHandler serves the gateway's Prometheus registry.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}
