// Package gateway serves the shardstock HTTP API. It holds the HTTP side: the route table, the
// one endpoint wrapper (deadline, body limit, idempotency, panic recovery, metrics), strict
// decoding, the one error→status table, and handlers that validate a request, call a component
// and return a result. The components beside it, each built from explicit dependencies, do the
// rest: cluster (topology, routing, scatter-gather), saga (reservations) and events (relay,
// sinks, streams). It runs no SQL itself. Server wires them and owns the background workers.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/gateway/events"
	"github.com/shardstock/shardstock/gateway/saga"
	"github.com/shardstock/shardstock/gateway/tlscert"
	"github.com/shardstock/shardstock/shard"
)

// Options are the parts of a gateway that are not configuration: the logger and test hooks.
type Options struct {
	Logger *slog.Logger
	// Failpoint, when set, is called at each step of the reservation saga; a non-nil error makes
	// the coordinator stop right there, as if the process had died (tests of crash recovery).
	Failpoint func(step string) error
	// DisableWorkers turns off every background worker but topology polling and the API key
	// refresh: reservation recovery, idempotency-key housekeeping, the event relays, the lot
	// sweeper and the alert reconcile (tests of a crashed gateway).
	DisableWorkers bool
	// Resolver, when set, resolves webhook host names instead of net.DefaultResolver, at
	// registration and at connect time (tests of the egress policy, e.g. DNS rebinding).
	Resolver egress.Resolver
}

// ErrNoActiveKeys: with auth.mode keys the gateway does not start while the metadata store holds
// no API key that is neither revoked nor expired (nobody could use it).
var ErrNoActiveKeys = errors.New("auth.mode is keys but the metadata store holds no active API key")

// Server is one gateway process.
type Server struct {
	cfg     configs.Config
	log     *slog.Logger
	meta    *shard.Meta
	opts    Options
	metrics *metrics
	handler http.Handler

	cluster *cluster.Client
	saga    *saga.Coordinator
	events  *events.Service
	cache   *readCache // nil when the read cache is off
	keys    *idempotency
	egress  *egress.Guard
	tls     *tlscert.Holder // nil without tls.cert_file
	// authKeys authenticates requests (nil under auth.mode none); limiter is the per-key rate
	// limit.
	authKeys *auth.Cache
	limiter  *auth.Limiter
	// cursorSecret is the cluster's random key of cursor MACs (the metadata store's
	// "cursor-hmac" secret).
	cursorSecret []byte
	lots         *lotSweeper
	alerts       *alertReconciler

	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
}

// New connects to the metadata store, loads the topology and builds the components and the
// HTTP handler.
func New(ctx context.Context, cfg configs.Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	guard, err := egress.New(cfg.Webhooks, opts.Resolver)
	if err != nil {
		return nil, err
	}
	var holder *tlscert.Holder
	if cfg.TLS.Enabled() {
		if holder, err = tlscert.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			return nil, err
		}
	}
	meta, err := shard.OpenMeta(cfg.MetaDSN)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: opts.Logger, meta: meta, opts: opts, metrics: newMetrics(), egress: guard, tls: holder}
	reg := s.metrics.registry
	s.cluster = cluster.New(meta, cluster.Options{
		Pool:             shard.PoolOptions{MaxOpen: cfg.Pool.MaxOpen, MaxIdle: cfg.Pool.MaxIdle, MaxLifetime: cfg.Pool.MaxLifetime},
		MovedRetryBudget: cfg.Topology.MovedRetryBudget,
		ShardTimeout:     cfg.Reports.ShardTimeout,
		MetaTimeout:      cfg.Meta.Timeout,
		MetaCooldown:     cfg.Meta.BreakerCooldown,
		Logger:           s.log,
		Registry:         reg,
	})
	s.events = events.New(s.cluster, events.Options{Config: cfg.Events, ReadTimeout: cfg.HTTP.RequestTimeout,
		Logger: s.log, Registry: reg, Guard: guard})
	s.lots = newLotSweeper(s.cluster, cfg.Lots.SweepInterval, s.log, reg)
	s.alerts = newAlertReconciler(s.cluster, cfg.Alerts.ReconcileInterval, s.log, reg)
	if err := s.setupAuth(ctx); err != nil {
		meta.Close()
		return nil, err
	}
	if s.cursorSecret, err = meta.Secret(ctx, "cursor-hmac"); err != nil {
		meta.Close()
		return nil, fmt.Errorf("cursor secret: %w", err)
	}
	if err := s.cluster.Load(ctx); err != nil {
		meta.Close()
		return nil, fmt.Errorf("load topology: %w", err)
	}
	if cfg.ReadCache.Enabled {
		s.cache = newReadCache(cfg.ReadCache.MaxStaleness, cfg.ReadCache.MaxEntries)
	}
	s.keys = newIdempotency(s.cluster, cfg.Idempotency, s.log, s.metrics.replays, reg)
	s.saga = saga.New(s.cluster, saga.Options{
		Logger:        s.log,
		Registry:      reg,
		Coalesce:      cfg.Coalesce.Enabled,
		MaxBatch:      cfg.Coalesce.MaxBatch,
		GroupTimeout:  cfg.HTTP.RequestTimeout,
		SweepInterval: cfg.Reservation.SweepInterval,
		RecoveryGrace: cfg.Reservation.RecoveryGrace,
		Failpoint:     opts.Failpoint,
		Wrote:         s.cache.invalidate,
	})
	s.handler = s.routes()
	return s, nil
}

// setupAuth loads the API keys (auth.mode keys; the gateway does not start without them) or
// warns that every request is served without one (auth.mode none).
func (s *Server) setupAuth(ctx context.Context) error {
	if s.cfg.Auth.Mode == configs.AuthNone {
		s.log.Warn("auth.mode is none: every request is served without an API key, with every scope and no rate limit; " +
			"set auth.mode: keys (the default) outside local experiments")
		return nil
	}
	s.authKeys = auth.NewCache(s.cluster.Keys(), auth.CacheOptions{RefreshInterval: s.cfg.Auth.RefreshInterval, Logger: s.log,
		Registerer: s.metrics.registry})
	if err := s.authKeys.Load(ctx); err != nil {
		return fmt.Errorf("load API keys: %w", err)
	}
	if s.authKeys.ActiveKeys() == 0 {
		return ErrNoActiveKeys
	}
	s.limiter = auth.NewLimiter(s.cfg.Auth.DefaultRate, s.cfg.Auth.DefaultBurst)
	return nil
}

// Handler returns the gateway's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler returns the handler of the admin listener (admin_listen): /metrics and
// /debug/pprof/, without a key. Serve it on a private address only.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Start launches the background workers: topology polling, the API key refresh and, unless
// Options.DisableWorkers, reservation recovery, idempotency-key housekeeping, the event relays,
// the lot expiry sweeper and the alert reconcile. The server owns them: Stop ends them.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWorkers = cancel
	s.workers.Go(func() { s.cluster.Poll(ctx, s.cfg.Topology.PollInterval) })
	if s.authKeys != nil {
		s.authKeys.Start(ctx)
	}
	if s.opts.DisableWorkers {
		return
	}
	s.workers.Go(func() { s.saga.Run(ctx) })
	s.workers.Go(func() { s.keys.run(ctx) })
	s.workers.Go(func() { s.events.Run(ctx) })
	s.workers.Go(func() { s.lots.run(ctx) })
	s.workers.Go(func() { s.alerts.run(ctx) })
}

// Stop ends the background workers and waits for them (and for coalesced batches in flight).
func (s *Server) Stop() {
	if s.stopWorkers != nil {
		s.stopWorkers()
	}
	if s.authKeys != nil {
		s.authKeys.Stop()
	}
	s.workers.Wait()
	s.saga.Wait()
}

// Close stops the workers, ends the event streams (also when the workers never ran) and closes
// every connection pool.
func (s *Server) Close() {
	s.Stop()
	s.events.Close()
	s.cluster.Close()
	s.meta.Close()
}

// Serve answers HTTP on ln until ctx is cancelled, then shuts down gracefully: it ends the event
// streams, stops accepting, lets in-flight requests finish (up to the shutdown timeout) and
// stops the workers. With tls.cert_file it serves HTTPS on ln (HTTP/2 and HTTP/1.1) and reloads
// the certificate on SIGHUP; open connections keep theirs.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// "OPTIONS *" goes to the router (a JSON 404) instead of net/http's empty 200.
		DisableGeneralOptionsHandler: true}
	if s.tls != nil {
		stop := tlscert.WatchSIGHUP(ctx, s.tls, s.log)
		defer stop()
		ln = tls.NewListener(ln, s.tls.TLSConfig())
	}
	s.Start()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("gateway listening", "addr", ln.Addr().String(), "tls", s.tls != nil)
	select {
	case err := <-errc:
		s.Stop()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout.String())
	// Event streams never end on their own: close them first, or Shutdown would wait for them
	// until its timeout.
	s.events.CloseStreams()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	s.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// RecoverOnce runs one reservation recovery pass over every shard and returns how many
// headers it finished (see saga.Coordinator.Run).
func (s *Server) RecoverOnce(ctx context.Context) int { return s.saga.RecoverOnce(ctx) }

// SweepLotsOnce runs one lot expiry sweep over every shard and returns the totals: products
// examined, lots expired, conflicts newly recorded.
func (s *Server) SweepLotsOnce(ctx context.Context) shard.LotSweep { return s.lots.once(ctx) }

// ReconcileAlertsOnce runs one alert reconcile pass over every active shard and returns what it
// fixed (see shard.Store.ReconcileAlerts).
func (s *Server) ReconcileAlertsOnce(ctx context.Context) shard.AlertRepairs {
	return s.alerts.once(ctx)
}

// RelaysHeld returns the shards whose event relay this gateway runs right now.
func (s *Server) RelaysHeld() []string { return s.events.Held() }
