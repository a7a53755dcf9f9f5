// Package configs loads the gateway/tool configuration: one YAML file, defaults and validation
// in one place. The folder also holds the example configs.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of a shardstock gateway and of the tool's subcommands.
type Config struct {
	// MetaDSN is the go-sql-driver DSN of the metadata store, e.g. root@tcp(127.0.0.1:3306)/shardstock_meta.
	// It may also come from MetaDSNFile or SHARDSTOCK_META_DSN (see Load).
	MetaDSN     string `yaml:"meta_dsn"`
	MetaDSNFile string `yaml:"meta_dsn_file"`
	// Listen is the gateway's HTTP address.
	Listen string `yaml:"listen"`
	// AdminListen, when set, serves /metrics and /debug/pprof on a separate address, without an
	// API key (keep it private).
	AdminListen string      `yaml:"admin_listen"`
	Log         Log         `yaml:"log"`
	Pool        Pool        `yaml:"pool"`
	Topology    Topology    `yaml:"topology"`
	Meta        Meta        `yaml:"meta"`
	Reservation Reservation `yaml:"reservations"`
	Idempotency Idempotency `yaml:"idempotency"`
	HTTP        HTTP        `yaml:"http"`
	Reports     Reports     `yaml:"reports"`
	Coalesce    Coalesce    `yaml:"coalesce"`
	ReadCache   ReadCache   `yaml:"read_cache"`
	Lots        Lots        `yaml:"lots"`
	Events      Events      `yaml:"events"`
	Alerts      Alerts      `yaml:"alerts"`
	Auth        Auth        `yaml:"auth"`
	TLS         TLS         `yaml:"tls"`
	// MySQLTLS names TLS settings for MySQL connections; a DSN selects one with tls=<name>.
	MySQLTLS map[string]MySQLTLS `yaml:"mysql_tls,omitempty"`
	Webhooks Webhooks            `yaml:"webhooks"`
}

// AuthMode says whether the gateway requires API keys.
type AuthMode string

// The auth modes.
const (
	// AuthKeys requires an API key (Authorization: Bearer) on every business endpoint.
	AuthKeys AuthMode = "keys"
	// AuthNone accepts every request without a key; it must be set explicitly and is logged as
	// a warning at startup.
	AuthNone AuthMode = "none"
)

// Auth configures API-key authentication and per-key rate limits.
type Auth struct {
	Mode AuthMode `yaml:"mode"`
	// RefreshInterval is how often each gateway polls the metadata store for key changes; a
	// revocation takes effect within it plus one round trip.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// DefaultRate (requests per second, per key and per gateway) and DefaultBurst apply to keys
	// created without their own; a rate of 0 is unlimited.
	DefaultRate  float64 `yaml:"default_rate"`
	DefaultBurst int     `yaml:"default_burst"`
}

// Alerts configures low-stock alerts' reconcile pass.
type Alerts struct {
	// ReconcileInterval is how often each gateway repairs missing or stale alerts on every shard
	// (alerts normally open and resolve with the change itself; this catches changes made
	// around the API, such as bulk loads or SQL edits).
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
}

// Events configures change events: the relay of each shard's change log and its sinks.
type Events struct {
	// RelayPollInterval is how often a shard's relay looks for new changes.
	RelayPollInterval time.Duration `yaml:"relay_poll_interval"`
	// GapGrace is how long the relay waits for a hole in the change log's seq sequence (a seq
	// taken by a writer but not visible yet) before it treats it as a rolled-back insert.
	GapGrace time.Duration `yaml:"gap_grace"`
	// WebhookMaxAttempts is how many times one event is attempted before it is dead-lettered.
	WebhookMaxAttempts int `yaml:"webhook_max_attempts"`
	// WebhookBackoff is the delay after the first failed attempt; it doubles per attempt (with
	// jitter) up to WebhookMaxBackoff.
	WebhookBackoff    time.Duration `yaml:"webhook_backoff"`
	WebhookMaxBackoff time.Duration `yaml:"webhook_max_backoff"`
	// WebhookTimeout bounds one delivery request.
	WebhookTimeout time.Duration `yaml:"webhook_timeout"`
	// NATSURL enables publishing to NATS JetStream when set (e.g. nats://127.0.0.1:4222).
	// It may also come from NATSURLFile or SHARDSTOCK_EVENTS_NATS_URL (see Load).
	NATSURL     string `yaml:"nats_url"`
	NATSURLFile string `yaml:"nats_url_file"`
	// NATSStream is the JetStream stream, created when missing with subjects <prefix>.>.
	NATSStream string `yaml:"nats_stream"`
	// NATSSubjectPrefix prefixes the event type in the subject: <prefix>.stock.changed.
	NATSSubjectPrefix string `yaml:"nats_subject_prefix"`
}

// Lots configures lot tracking's expiry sweeper.
type Lots struct {
	// SweepInterval is how often each gateway removes expired lot quantity on every shard.
	// Until the next sweep, expired quantity still counts as available.
	SweepInterval time.Duration `yaml:"sweep_interval"`
}

// ReadCache configures the optional product read cache of GET /v1/products/{sku}.
type ReadCache struct {
	Enabled bool `yaml:"enabled"`
	// MaxStaleness bounds how old a cached product may be; this gateway's own writes invalidate.
	MaxStaleness time.Duration `yaml:"max_staleness"`
	MaxEntries   int           `yaml:"max_entries"`
}

// Coalesce configures hot-SKU coalescing: concurrent single-line reservations of one SKU at
// one gateway are applied together in one shard transaction.
type Coalesce struct {
	Enabled  bool `yaml:"enabled"`
	MaxBatch int  `yaml:"max_batch"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// Pool sizes each shard's connection pool.
type Pool struct {
	MaxOpen     int           `yaml:"max_open"`
	MaxIdle     int           `yaml:"max_idle"`
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// Topology configures the gateway's topology cache.
type Topology struct {
	PollInterval time.Duration `yaml:"poll_interval"`
	// MovedRetryBudget bounds how long a request for a partition that is moving is held
	// (refreshing the topology and retrying) before it fails.
	MovedRetryBudget time.Duration `yaml:"moved_retry_budget"`
}

// Meta configures the gateway's calls to the metadata store (topology, webhooks, event
// positions, webhook idempotency keys).
type Meta struct {
	// Timeout bounds each call; a call without an answer by then is 503 meta_unavailable.
	Timeout time.Duration `yaml:"timeout"`
	// BreakerCooldown is how long calls fail at once (503 meta_unavailable) after the store
	// failed two calls in a row; then one call probes it.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
}

// Reservation configures the saga's background workers.
type Reservation struct {
	DefaultTTL    time.Duration `yaml:"default_ttl"`
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// RecoveryGrace is how long an in-flight saga header may sit untouched before the recovery
	// worker finishes it. Keep it above http.request_timeout: a coordinator that is still alive
	// finishes (or gives up) within its request's deadline, so recovery never pre-empts it.
	RecoveryGrace time.Duration `yaml:"recovery_grace"`
}

// Idempotency configures Idempotency-Key handling.
type Idempotency struct {
	Retention time.Duration `yaml:"retention"`
	// Lease is written on every pending claim for gateways of earlier versions, which take a
	// claim over only after it; this version takes over as soon as the claimant is gone.
	Lease time.Duration `yaml:"lease"`
	// WaitTimeout bounds how long a replay waits for the first request with its key to finish.
	WaitTimeout time.Duration `yaml:"wait_timeout"`
	// HomeTimeout bounds the write of a key's home record (the cross-shard reuse check); past
	// it, or when the home shard is down, the request goes on without the record.
	HomeTimeout time.Duration `yaml:"home_timeout"`
}

// HTTP configures the server.
type HTTP struct {
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	RequestTimeout  time.Duration `yaml:"request_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Reports configures scatter-gather reporting.
type Reports struct {
	ShardTimeout time.Duration `yaml:"shard_timeout"`
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		Log:         Log{Level: "info", Format: "json"},
		Pool:        Pool{MaxOpen: 64, MaxIdle: 64, MaxLifetime: 30 * time.Minute},
		Topology:    Topology{PollInterval: time.Second, MovedRetryBudget: 2 * time.Second},
		Reservation: Reservation{DefaultTTL: 900 * time.Second, SweepInterval: time.Second, RecoveryGrace: 15 * time.Second},
		Meta:        Meta{Timeout: 500 * time.Millisecond, BreakerCooldown: time.Second},
		Idempotency: Idempotency{Retention: 24 * time.Hour, Lease: 30 * time.Second, WaitTimeout: 10 * time.Second, HomeTimeout: 250 * time.Millisecond},
		HTTP:        HTTP{MaxBodyBytes: 1 << 20, RequestTimeout: 10 * time.Second, ShutdownTimeout: 15 * time.Second},
		Reports:     Reports{ShardTimeout: 2 * time.Second},
		Coalesce:    Coalesce{Enabled: true, MaxBatch: 128},
		ReadCache:   ReadCache{Enabled: false, MaxStaleness: 200 * time.Millisecond, MaxEntries: 100000},
		Lots:        Lots{SweepInterval: 10 * time.Second},
		Alerts:      Alerts{ReconcileInterval: time.Minute},
		Auth:        Auth{Mode: AuthKeys, RefreshInterval: time.Second},
		Events: Events{RelayPollInterval: 100 * time.Millisecond, GapGrace: time.Second, WebhookMaxAttempts: 10,
			WebhookBackoff: time.Second, WebhookMaxBackoff: 5 * time.Minute, WebhookTimeout: 10 * time.Second,
			NATSStream: "INVENTORY", NATSSubjectPrefix: "inventory"},
	}
}

// Load reads the YAML file at path over the defaults (unknown keys are an error), takes secrets
// from the environment and from files (see the secrets table in secrets.go: environment > file >
// YAML) and validates.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.resolveSecrets(os.LookupEnv, readSecretFile); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.MetaDSN != "", "meta_dsn is required")
	check(c.Listen != "", "listen is required")
	check(c.Log.Level == "debug" || c.Log.Level == "info" || c.Log.Level == "warn" || c.Log.Level == "error",
		"log.level must be debug, info, warn or error, got %q", c.Log.Level)
	check(c.Log.Format == "json" || c.Log.Format == "text", "log.format must be json or text, got %q", c.Log.Format)
	check(c.Pool.MaxOpen > 0 && c.Pool.MaxOpen <= 10000, "pool.max_open must be 1-10000")
	check(c.Pool.MaxIdle >= 0, "pool.max_idle must not be negative")
	check(c.Topology.PollInterval >= 10*time.Millisecond, "topology.poll_interval must be at least 10ms")
	check(c.Topology.MovedRetryBudget > 0, "topology.moved_retry_budget must be positive")
	check(c.Reservation.DefaultTTL >= time.Second && c.Reservation.DefaultTTL <= 24*time.Hour, "reservations.default_ttl must be 1s-24h")
	check(c.Reservation.SweepInterval >= 10*time.Millisecond, "reservations.sweep_interval must be at least 10ms")
	check(c.Reservation.RecoveryGrace >= 100*time.Millisecond, "reservations.recovery_grace must be at least 100ms")
	check(c.Idempotency.Retention >= 24*time.Hour, "idempotency.retention must be at least 24h (the contract keeps keys 24 hours)")
	check(c.Idempotency.Lease >= time.Second, "idempotency.lease must be at least 1s")
	check(c.Idempotency.WaitTimeout > 0, "idempotency.wait_timeout must be positive")
	check(c.Idempotency.HomeTimeout > 0, "idempotency.home_timeout must be positive")
	check(c.Meta.Timeout >= 10*time.Millisecond && c.Meta.Timeout <= time.Minute, "meta.timeout must be 10ms-1m")
	check(c.Meta.BreakerCooldown >= 10*time.Millisecond, "meta.breaker_cooldown must be at least 10ms")
	check(c.HTTP.MaxBodyBytes >= 1024, "http.max_body_bytes must be at least 1024")
	check(c.HTTP.RequestTimeout > 0, "http.request_timeout must be positive")
	check(c.HTTP.ShutdownTimeout > 0, "http.shutdown_timeout must be positive")
	check(c.Reports.ShardTimeout > 0, "reports.shard_timeout must be positive")
	check(c.Coalesce.MaxBatch >= 1 && c.Coalesce.MaxBatch <= 1000, "coalesce.max_batch must be 1-1000")
	check(c.ReadCache.MaxStaleness > 0 && c.ReadCache.MaxStaleness <= time.Minute, "read_cache.max_staleness must be >0 and at most 1m")
	check(c.ReadCache.MaxEntries >= 1, "read_cache.max_entries must be positive")
	check(c.Lots.SweepInterval >= 10*time.Millisecond, "lots.sweep_interval must be at least 10ms")
	check(c.Alerts.ReconcileInterval >= 10*time.Millisecond, "alerts.reconcile_interval must be at least 10ms")
	check(c.Events.RelayPollInterval >= time.Millisecond, "events.relay_poll_interval must be at least 1ms")
	check(c.Events.GapGrace >= 10*time.Millisecond, "events.gap_grace must be at least 10ms")
	check(c.Events.WebhookMaxAttempts >= 1 && c.Events.WebhookMaxAttempts <= 1000, "events.webhook_max_attempts must be 1-1000")
	check(c.Events.WebhookBackoff > 0, "events.webhook_backoff must be positive")
	check(c.Events.WebhookMaxBackoff >= c.Events.WebhookBackoff, "events.webhook_max_backoff must be at least events.webhook_backoff")
	check(c.Events.WebhookTimeout > 0, "events.webhook_timeout must be positive")
	check(c.Events.NATSURL == "" || c.Events.NATSStream != "", "events.nats_stream is required with events.nats_url")
	check(c.Events.NATSURL == "" || c.Events.NATSSubjectPrefix != "", "events.nats_subject_prefix is required with events.nats_url")
	check(c.Auth.Mode == AuthKeys || c.Auth.Mode == AuthNone, "auth.mode must be keys or none, got %q", c.Auth.Mode)
	check(c.Auth.RefreshInterval >= 10*time.Millisecond && c.Auth.RefreshInterval <= time.Second,
		"auth.refresh_interval must be 10ms-1s (a revocation must take effect within 2s)")
	check(c.Auth.DefaultRate >= 0 && c.Auth.DefaultRate <= 1e6, "auth.default_rate must be 0 (unlimited) to 1000000 requests per second")
	check(c.Auth.DefaultBurst >= 0 && c.Auth.DefaultBurst <= 1e6, "auth.default_burst must be 0-1000000")
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

// Write saves cfg as YAML at path.
func Write(path string, cfg Config) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
