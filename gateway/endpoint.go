package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
)

// request is one business call as a handler sees it: the HTTP request (its context carries the
// deadline and the actor), the caller's API key, the body read under the size limit, and, when
// it runs under an Idempotency-Key, the key's marker (its hash), which the mutation stores so
// that a re-run is not applied twice.
type request struct {
	*http.Request
	// principal is the API key the request was authenticated as (auth.mode none: anonymous,
	// every scope).
	principal auth.Principal
	body      []byte
	marker    []byte
	// takeover: the key's earlier claimant is gone (its gateway died) and this request took
	// its claim over.
	takeover bool
}

// pathVar returns a variable of the route's path template.
func (r *request) pathVar(name string) string { return mux.Vars(r.Request)[name] }

// apiFunc is a business handler: it returns a status and a value to encode, or an error.
type apiFunc func(r *request) (int, any, error)

// endpoint wraps an apiFunc with everything every route shares, in this order: the request id,
// authentication, the route's scope and the key's rate limit (a refused request reads no body,
// claims no Idempotency-Key and changes nothing), the deadline, the body limit, idempotency
// (mutating routes), panic recovery, the error envelope, the metrics and the access log.
func (s *Server) endpoint(route string, need access, idempotent bool, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := s.begin(w, r, route)
		defer s.end(w, r, x)
		p, err := s.admit(r.Header, need)
		x.keyID = p.KeyID
		var payload []byte
		var hdr http.Header
		if err != nil {
			x.status, payload, hdr = errorAnswer(s.log, err)
			if r.ContentLength != 0 {
				// The body is never read for a refused request; closing the connection keeps
				// net/http from draining it first (a trickled body would hold the answer back).
				w.Header().Set("Connection", "close")
			}
		} else {
			x.status, payload, hdr = s.run(w, r, x, p, idempotent, fn)
			if sku := mux.Vars(r)["sku"]; sku != "" && r.Method != http.MethodGet {
				s.cache.invalidate(sku) // every write to a product path: this gateway reads its own writes
			}
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(x.status)
		_, _ = w.Write(payload)
		x.counted = true
	})
}

// run serves an admitted request: deadline, actor, body, idempotency, the handler.
func (s *Server) run(w http.ResponseWriter, r *http.Request, x *exchange, p auth.Principal, idempotent bool, fn apiFunc) (int, []byte, http.Header) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HTTP.RequestTimeout)
	defer cancel()
	ctx = inventory.WithActor(ctx, inventory.Actor{ID: p.KeyID, RequestID: x.id})
	req := &request{Request: r.WithContext(ctx), principal: p}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		var err error
		if req.body, err = readBody(w, req.Request, s.cfg.HTTP.MaxBodyBytes); err != nil {
			return errorAnswer(s.log, err)
		}
	}
	if idempotent && r.Header.Get("Idempotency-Key") != "" {
		return s.keys.call(req, x.route, idempotencyScope(req), fn)
	}
	return answer(s.log, req, fn)
}

// exchange is what the wrappers note about one request for its metrics and access-log line.
type exchange struct {
	start   time.Time
	route   string
	id      string // the request id, as echoed in X-Request-Id
	keyID   string // the authenticated key ("" when authentication failed or was not needed)
	status  int
	counted bool // the answer is one the request metrics count (a JSON endpoint's)
}

// headerRequestID is the request id header, accepted from the client or generated, and echoed.
const headerRequestID = "X-Request-Id"

// begin starts an exchange: it takes the request id (the client's when valid, else a new one)
// and echoes it.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, route string) *exchange {
	x := &exchange{start: time.Now(), route: route, id: requestID(r.Header.Get(headerRequestID)), status: http.StatusOK}
	w.Header().Set(headerRequestID, x.id)
	return x
}

// end finishes an exchange (deferred): it turns a panic into a 500 answer (defence in depth: a
// bug must not drop the connection without an answer), counts the answer and writes the
// access-log line.
func (s *Server) end(w http.ResponseWriter, r *http.Request, x *exchange) {
	if v := recover(); v != nil {
		s.log.Error("panic in handler", "route", x.route, "request_id", x.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(encodeJSON(errorBody{errorPayload{"internal", "internal error", map[string]any{}}}))
		x.status = http.StatusInternalServerError
	}
	elapsed := time.Since(x.start)
	if x.counted || x.status == http.StatusInternalServerError {
		code := strconv.Itoa(x.status)
		s.metrics.requests.WithLabelValues(x.route, methodLabel(r.Method), code).Inc()
		s.metrics.requestDuration.WithLabelValues(x.route, methodLabel(r.Method), code).Observe(elapsed.Seconds())
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
		slog.String("method", methodLabel(r.Method)), slog.String("route", x.route), slog.Int("status", x.status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.String("key_id", x.keyID),
		slog.String("request_id", x.id))
}

// answer runs fn and encodes its answer.
func answer(log *slog.Logger, r *request, fn apiFunc) (int, []byte, http.Header) {
	status, v, err := fn(r)
	if err != nil {
		return errorAnswer(log, err)
	}
	return status, encodeJSON(v), nil
}

// errorAnswer encodes err as the contract's error envelope with its status and headers.
func errorAnswer(log *slog.Logger, err error) (int, []byte, http.Header) {
	status, eb, hdr := errorResponse(log, err)
	return status, encodeJSON(eb), hdr
}

// encodeJSON is the one JSON writer of responses: HTML characters unescaped, a final newline.
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"error":{"code":"internal","message":"cannot encode response","details":{}}}`)
	}
	return buf.Bytes()
}
