// Package events relays every shard's change log as events and serves them: exactly one gateway
// at a time relays each shard (a MySQL named lock), to signed webhooks (retries with backoff,
// dead letters, redelivery) and to NATS JetStream; clients poll pages of events or follow a
// Server-Sent Events stream, both positioned by cursors. Delivery is at least once, in change-log
// order per SKU (per reservation for header events); see relay.go for the guarantees.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/egress"
)

// Options configure a Service.
type Options struct {
	Config configs.Events
	// ReadTimeout bounds each page read of an event stream.
	ReadTimeout time.Duration
	Logger      *slog.Logger
	// Registry receives the delivery metrics.
	Registry prometheus.Registerer
	// Guard is the egress policy of webhook deliveries; nil refuses every internal address
	// (an empty allow-list).
	Guard *egress.Guard
}

// Service is the gateway's change-event machinery: relays, sinks and streams.
type Service struct {
	cluster     *cluster.Client // the metadata store is reached through it (timeout, breaker)
	cfg         configs.Events
	readTimeout time.Duration
	log         *slog.Logger
	holder      string
	client      *webhookClient
	nats        *natsPublisher // nil when NATS is off
	metrics     *metrics

	mu   sync.Mutex
	held map[string]bool // shards whose relay this gateway runs

	done chan struct{} // closed by CloseStreams (ends SSE streams)
	once sync.Once
}

// New creates the service; Run starts relaying.
func New(c *cluster.Client, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Guard == nil {
		opts.Guard, _ = egress.New(configs.Webhooks{}, nil) // an empty allow-list cannot fail
	}
	host, _ := os.Hostname()
	s := &Service{cluster: c, cfg: opts.Config, readTimeout: opts.ReadTimeout, log: opts.Logger,
		held: map[string]bool{}, done: make(chan struct{}),
		holder: fmt.Sprintf("%s/%d/%08x", host, os.Getpid(), rand.Uint32()),
		client: newWebhookClient(opts.Config.WebhookTimeout, opts.Guard), metrics: newMetrics(opts.Registry)}
	if opts.Config.NATSURL != "" {
		s.nats = newNATSPublisher(opts.Config, opts.Logger)
	}
	return s
}

// Run keeps a relay loop running for every active shard until ctx is done. When ctx is done it
// also ends the event streams and closes the NATS connection, and returns once every relay has
// stopped.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		s.shutdown()
	})
	s.runRelays(ctx)
	wg.Wait()
}

// Close ends the event streams and closes the NATS connection, whether or not Run was ever
// started (Run does the same when its context ends). It may be called more than once.
func (s *Service) Close() { s.shutdown() }

// shutdown ends SSE streams and closes the NATS connection.
func (s *Service) shutdown() {
	s.CloseStreams()
	if s.nats != nil {
		s.nats.close()
	}
}

// CloseStreams ends every Server-Sent Events stream (Stream returns) and makes new ones end
// after their first page. The gateway calls it when shutdown starts, so that a graceful shutdown
// does not wait for stream clients to leave. Calling it again does nothing.
func (s *Service) CloseStreams() { s.once.Do(func() { close(s.done) }) }

// Held returns the shards whose event relay this gateway runs right now.
func (s *Service) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, ok := range s.held {
		if ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Service) setHeld(shardName string, held bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held[shardName] = held
}

// leaseRetry is how often a gateway without the lease tries to take it.
func (s *Service) leaseRetry() time.Duration {
	return min(max(5*s.cfg.RelayPollInterval, 50*time.Millisecond), 2*time.Second)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
