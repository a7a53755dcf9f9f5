// Package gateway serves the shardstock HTTP API: it routes product operations to the shard
// that owns them, coordinates cross-shard reservations, runs the background workers and exports
// metrics. It runs no SQL itself.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/events"
	"github.com/shardstock/shardstock/gateway/saga"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Options are the parts of a gateway that are not configuration: the logger and test hooks.
type Options struct {
	Logger *slog.Logger
	// Failpoint, when set, is called at each step of the reservation saga; a non-nil error makes
	// the coordinator stop right there, as if the process had died (tests of crash recovery).
	Failpoint func(step string) error
	// DisableWorkers turns off the TTL/recovery and housekeeping workers (tests of a crashed gateway).
	DisableWorkers bool
}

// Server is one gateway process.
type Server struct {
	cfg     configs.Config
	log     *slog.Logger
	meta    *shard.Meta
	cluster *cluster.Client
	metrics *metrics
	opts    Options
	handler http.Handler
	// saga coordinates reservations (coalescing and recovery included).
	saga *saga.Coordinator
	// readCache serves product reads when enabled (nil otherwise).
	readCache  *readCache
	lotMetrics *lotMetrics
	// alertMetrics counts the alert reconcile pass's repairs.
	alertMetrics *alertMetrics

	// events relays the shards' change logs to webhooks and NATS and serves event streams.
	events *events.Service

	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
}

// New connects to the metadata store, loads the topology and builds the HTTP handler.
func New(ctx context.Context, cfg configs.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	meta, err := shard.OpenMeta(cfg.MetaDSN)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: opts.Logger, meta: meta, opts: opts, metrics: newMetrics()}
	s.cluster = cluster.New(meta, cluster.Options{
		Pool:             shard.PoolOptions{MaxOpen: cfg.Pool.MaxOpen, MaxIdle: cfg.Pool.MaxIdle, MaxLifetime: cfg.Pool.MaxLifetime},
		MovedRetryBudget: cfg.Topology.MovedRetryBudget,
		ShardTimeout:     cfg.Reports.ShardTimeout,
		Logger:           s.log,
		Registry:         s.metrics.registry,
	})
	s.lotMetrics = newLotMetrics(s.metrics.registry)
	s.alertMetrics = newAlertMetrics(s.metrics.registry)
	s.events = events.New(s.cluster, meta, events.Options{
		Config:      cfg.Events,
		ReadTimeout: cfg.HTTP.RequestTimeout,
		Logger:      s.log,
		Registry:    s.metrics.registry,
	})
	if err := s.cluster.Load(ctx); err != nil {
		meta.Close()
		return nil, fmt.Errorf("load topology: %w", err)
	}
	if cfg.ReadCache.Enabled {
		s.readCache = newReadCache(cfg.ReadCache.MaxStaleness, cfg.ReadCache.MaxEntries)
	}
	s.saga = saga.New(s.cluster, saga.Options{
		Logger:        s.log,
		Registry:      s.metrics.registry,
		Coalesce:      cfg.Coalesce.Enabled,
		MaxBatch:      cfg.Coalesce.MaxBatch,
		GroupTimeout:  cfg.HTTP.RequestTimeout,
		SweepInterval: cfg.Reservation.SweepInterval,
		RecoveryGrace: cfg.Reservation.RecoveryGrace,
		Failpoint:     opts.Failpoint,
		Wrote:         s.wrote,
	})
	s.handler = s.routes()
	return s, nil
}

// Handler returns the gateway's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Start launches the background workers: topology polling, the reservation TTL/recovery worker
// and key housekeeping. Stop ends them.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWorkers = cancel
	s.goWorker(func() { s.cluster.Poll(ctx, s.cfg.Topology.PollInterval) })
	if s.opts.DisableWorkers {
		return
	}
	s.goWorker(func() { s.saga.Run(ctx) })
	s.goWorker(func() { s.runHousekeeping(ctx) })
	s.goWorker(func() { s.events.Run(ctx) })
	s.goWorker(func() { s.runLotSweeper(ctx) })
	s.goWorker(func() { s.runAlertReconcile(ctx) })
}

func (s *Server) goWorker(fn func()) {
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		fn()
	}()
}

// Stop ends the background workers and waits for them (and for batches in flight).
func (s *Server) Stop() {
	if s.stopWorkers != nil {
		s.stopWorkers()
	}
	s.workers.Wait()
	s.saga.Wait()
}

// Close stops the workers and closes every connection pool.
func (s *Server) Close() {
	s.Stop()
	s.cluster.Close()
	s.meta.Close()
}

// Serve answers HTTP on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (up to the shutdown timeout) and stops the workers.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.Start()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("gateway listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		s.Stop()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	s.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// apiFunc is a business handler: it returns a status and a value to encode, or an error.
type apiFunc func(r *http.Request, body []byte) (int, any, error)

// endpoint wraps an apiFunc with everything every route shares: deadline, body limit,
// idempotency (mutating routes), the error envelope and the metrics.
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
				s.metrics.requests.WithLabelValues(route, r.Method, "500").Inc()
			}
		}()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HTTP.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		var status int
		var payload []byte
		var hdr http.Header
		body, err := []byte(nil), error(nil)
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			body, err = readBody(w, r, s.cfg.HTTP.MaxBodyBytes)
		}
		if err == nil && idempotent && r.Header.Get("Idempotency-Key") != "" {
			status, payload, hdr = s.idempotentCall(r, body, fn)
		} else if err == nil {
			status, payload, hdr = s.call(r, body, fn)
		} else {
			status, payload, hdr = s.encodeError(err)
		}
		if sku := mux.Vars(r)["sku"]; sku != "" && r.Method != http.MethodGet {
			s.wrote(sku) // every write to a product path: this gateway reads its own writes
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(payload)
		code := strconv.Itoa(status)
		s.metrics.requests.WithLabelValues(route, r.Method, code).Inc()
		s.metrics.requestDuration.WithLabelValues(route, r.Method, code).Observe(time.Since(start).Seconds())
	})
}

// call runs fn and encodes its answer.
func (s *Server) call(r *http.Request, body []byte, fn apiFunc) (int, []byte, http.Header) {
	status, v, err := fn(r, body)
	if err != nil {
		return s.encodeError(err)
	}
	return status, encodeJSON(v), nil
}

func (s *Server) encodeError(err error) (int, []byte, http.Header) {
	status, eb, hdr := errorResponse(s.log, err)
	return status, encodeJSON(eb), hdr
}

func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return []byte(`{"error":{"code":"internal","message":"cannot encode response","details":{}}}`)
	}
	return buf.Bytes()
}

// apiRoute is one business endpoint; its path template is also its metrics label.
type apiRoute struct {
	method, path string
	idempotent   bool // accepts Idempotency-Key
	fn           apiFunc
}

func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{http.MethodGet, "/v1/products", false, s.listProducts},
		{http.MethodPut, "/v1/products/{sku}", true, s.putProduct},
		{http.MethodGet, "/v1/products/{sku}", false, s.getProduct},
		{http.MethodPost, "/v1/products/{sku}/adjustments", true, s.adjustStock},
		{http.MethodPut, "/v1/products/{sku}/stock", true, s.setStock},
		{http.MethodPost, "/v1/products/{sku}/lots", true, s.receiveLot},
		{http.MethodGet, "/v1/products/{sku}/lots", false, s.listLots},
		{http.MethodPost, "/v1/reservations", true, s.createReservation},
		{http.MethodGet, "/v1/reservations/{id}", false, s.getReservation},
		{http.MethodPost, "/v1/reservations/{id}/commit", true, s.commitReservation},
		{http.MethodPost, "/v1/reservations/{id}/release", true, s.releaseReservation},
		{http.MethodGet, "/v1/topology", false, s.getTopology},
		{http.MethodGet, "/v1/events", false, s.listEvents},
		{http.MethodPost, "/v1/webhooks", true, s.createWebhook},
		{http.MethodGet, "/v1/webhooks", false, s.listWebhooks},
		{http.MethodGet, "/v1/webhooks/{id}", false, s.getWebhook},
		{http.MethodDelete, "/v1/webhooks/{id}", false, s.deleteWebhook},
		{http.MethodGet, "/v1/webhooks/{id}/dead-letters", false, s.listDeadLetters},
		{http.MethodPost, "/v1/webhooks/{id}/redeliver", true, s.redeliverWebhook},
	}
}

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.endpoint("not_found", false, func(*http.Request, []byte) (int, any, error) {
		return 0, nil, inventory.Errorf(inventory.CodeNotFound, "no such endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(encodeJSON(errorBody{errorPayload{"method_not_allowed", "method not allowed on this path", map[string]any{}}}))
	})
	// Routes are registered on the root router with full paths: gorilla/mux subrouters answer
	// 404 instead of 405 for a known path with the wrong method.
	routes := append(s.apiRoutes(), s.reportRoutes()...)
	routes = append(routes, s.alertRoutes()...)
	for _, rt := range routes {
		r.Handle(rt.path, s.endpoint(rt.path, rt.idempotent, rt.fn)).Methods(rt.method)
	}
	// The event stream is long-lived: no request deadline, no JSON envelope.
	r.HandleFunc("/v1/events/stream", s.streamEvents).Methods(http.MethodGet)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}).Methods(http.MethodGet)
	r.Handle("/readyz", s.endpoint("/readyz", false, s.ready)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	return r
}
