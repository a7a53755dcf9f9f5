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
)

// request is one business call as a handler sees it: the HTTP request (its context carries the
// deadline), the body read under the size limit, and, when it runs under an Idempotency-Key,
// the key's marker (its hash), which the mutation stores so that a re-run is not applied twice.
type request struct {
	*http.Request
	body   []byte
	marker []byte
}

// pathVar returns a variable of the route's path template.
func (r *request) pathVar(name string) string { return mux.Vars(r.Request)[name] }

// apiFunc is a business handler: it returns a status and a value to encode, or an error.
type apiFunc func(r *request) (int, any, error)

// endpoint wraps an apiFunc with everything every route shares: deadline, body limit,
// idempotency (mutating routes), panic recovery, the error envelope and the metrics.
func (s *Server) endpoint(route string, idempotent bool, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			// Defence in depth: a bug must not drop the connection without an answer.
			if v := recover(); v != nil {
				s.log.Error("panic in handler", "route", route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write(encodeJSON(errorBody{errorPayload{"internal", "internal error", map[string]any{}}}))
				s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), "500").Inc()
			}
		}()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HTTP.RequestTimeout)
		defer cancel()
		req := &request{Request: r.WithContext(ctx)}
		var status int
		var payload []byte
		var hdr http.Header
		var err error
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			req.body, err = readBody(w, req.Request, s.cfg.HTTP.MaxBodyBytes)
		}
		if err == nil && idempotent && r.Header.Get("Idempotency-Key") != "" {
			status, payload, hdr = s.keys.call(req, fn)
		} else if err == nil {
			status, payload, hdr = answer(s.log, req, fn)
		} else {
			status, payload, hdr = errorAnswer(s.log, err)
		}
		if sku := req.pathVar("sku"); sku != "" && r.Method != http.MethodGet {
			s.cache.invalidate(sku) // every write to a product path: this gateway reads its own writes
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(payload)
		code := strconv.Itoa(status)
		s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), code).Inc()
		s.metrics.requestDuration.WithLabelValues(route, methodLabel(r.Method), code).Observe(time.Since(start).Seconds())
	})
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
