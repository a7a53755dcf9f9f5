package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/inventory"
)

// access is what a route asks of its caller: nothing (public), or an API key with a scope.
type access struct {
	public bool
	scope  auth.Scope
}

// public is the access of /healthz, /readyz and unknown paths.
var public = access{public: true}

// routeAccess is the access of method on the route template path (auth.RequiredScope).
func routeAccess(method, path string) access {
	scope, needsKey := auth.RequiredScope(method, path)
	return access{public: !needsKey, scope: scope}
}

// anonymous is the principal of every request under auth.mode none.
var anonymous = auth.Principal{KeyID: inventory.ActorAnonymous, Name: inventory.ActorAnonymous,
	Scopes: auth.NewScopeSet(auth.AllScopes...)}

// admit authenticates a request that needs it, checks the route's scope and takes a token from
// the key's bucket, in that order; the principal is returned with forbidden and rate_limited
// errors too (for the access log). Under auth.mode none every request is anonymous.
func (s *Server) admit(h http.Header, need access) (auth.Principal, error) {
	switch {
	case need.public:
		return auth.Principal{}, nil
	case s.authKeys == nil:
		return anonymous, nil
	}
	p, err := s.authKeys.Authenticate(h)
	if err != nil {
		return auth.Principal{}, err
	}
	if err := p.Require(need.scope); err != nil {
		return p, err
	}
	return p, s.limiter.Allow(p)
}

// maxRequestIDLength bounds a client's X-Request-Id.
const maxRequestIDLength = 128

// requestID returns the client's request id when it is 1-128 characters of A-Z a-z 0-9 and
// - _ . : (a UUID, a ULID, "svc:1234"), else a new random one (32 hex digits). An id is never
// rejected: a bad one is replaced.
func requestID(v string) string {
	if validRequestID(v) {
		return v
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func validRequestID(v string) bool {
	if len(v) == 0 || len(v) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// guarded wraps a handler that is not a JSON business call (the event stream, /metrics, the 405
// answer) with the request id, the route's access check (a refusal is the usual error
// envelope) and the access-log line. It is not counted in the request metrics. For a
// long-lived answer (the event stream) the key is checked again every auth refresh interval:
// the answer ends once the key is revoked or expires.
func (s *Server) guarded(route string, need access, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := s.begin(w, r, route)
		defer s.end(w, r, x)
		p, err := s.admit(r.Header, need)
		x.keyID = p.KeyID
		if err != nil {
			status, payload, hdr := errorAnswer(s.log, err)
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(payload)
			x.status = status
			return
		}
		ctx := inventory.WithActor(r.Context(), inventory.Actor{ID: p.KeyID, RequestID: x.id})
		if !need.public && s.authKeys != nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			stop := s.watchKey(ctx, cancel, r.Header)
			defer stop()
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r.WithContext(ctx))
		x.status = rec.status
	})
}

// watchKey checks the request's key every auth refresh interval until ctx ends, and calls
// cancel once the key no longer authenticates (revoked, expired). stop ends the check and waits
// for it.
func (s *Server) watchKey(ctx context.Context, cancel context.CancelFunc, h http.Header) (stop func()) {
	token, _ := auth.BearerToken(h) // admitted: the header is well-formed
	done := make(chan struct{})
	go func() {
		defer close(done)
		worker.Every(ctx, s.cfg.Auth.RefreshInterval, func() {
			if _, err := s.authKeys.Verify(token); inventory.IsCode(err, inventory.CodeUnauthorized) {
				cancel() // ends worker.Every too
			}
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// statusRecorder notes the status a wrapped handler writes; it passes Flush on (streams).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush implements http.Flusher when the wrapped writer does.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the wrapped writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
