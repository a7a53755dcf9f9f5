package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// KeyStore is where the Cache loads keys from (*shard.Meta).
type KeyStore interface {
	// KeysVersion returns a number that changes with every change to the keys.
	KeysVersion(ctx context.Context) (int64, error)
	// LoadKeys returns every key and the version they are at, in one snapshot.
	LoadKeys(ctx context.Context) (shard.KeySet, error)
}

// CacheOptions configure a Cache; zero values take the defaults.
type CacheOptions struct {
	// RefreshInterval is how often the worker polls the keys' version (default 1s). A revocation
	// is seen within one interval plus one metadata-store round trip.
	RefreshInterval time.Duration
	// Logger receives one warning when the metadata store becomes unreachable and one info line
	// when it is back (default: discard).
	Logger *slog.Logger
	// Registerer, when set, receives the cache's metrics.
	Registerer prometheus.Registerer
	// Now is the clock that decides expiry (default time.Now).
	Now func() time.Time
}

// Cache holds every API key of the metadata store in memory and authenticates requests against
// it without a round trip. A worker (Start/Stop) polls the keys' version and reloads them when it
// moved; when the metadata store is unreachable the cache keeps answering from the last set it
// loaded. Safe for concurrent use.
type Cache struct {
	store KeyStore
	opts  CacheOptions
	snap  atomic.Pointer[keySnapshot]
	stale atomic.Bool // the last refresh failed
	m     CacheMetrics

	loadMu sync.Mutex // serialises loads, so an older set never replaces a newer one
	mu     sync.Mutex // guards cancel
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// keySnapshot is one loaded version of the keys, never modified once published.
type keySnapshot struct {
	version int64
	byID    map[string]*cachedKey
}

type cachedKey struct {
	principal Principal
	hash      [sha256.Size]byte
	expiresAt time.Time // zero: never
	revoked   bool
}

// NewCache returns a cache over store. It holds no keys until Load or the first refresh.
func NewCache(store KeyStore, opts CacheOptions) *Cache {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cache{store: store, opts: opts, m: newCacheMetrics()}
	if opts.Registerer != nil {
		c.m.register(opts.Registerer)
	}
	return c
}

// Load loads every key now (the gateway calls it at startup and refuses to start when it fails).
func (c *Cache) Load(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	set, err := c.store.LoadKeys(ctx)
	if err != nil {
		c.failed(ctx, err)
		return err
	}
	c.install(set)
	c.succeeded()
	return nil
}

// Refresh polls the keys' version and reloads the keys when it changed. On failure it keeps the
// keys it has and returns the error.
func (c *Cache) Refresh(ctx context.Context) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.refreshTimeout())
	defer cancel()
	v, err := c.store.KeysVersion(ctx)
	if err == nil {
		if cur := c.snap.Load(); cur != nil && cur.version == v {
			c.succeeded()
			return nil
		}
		var set shard.KeySet
		if set, err = c.store.LoadKeys(ctx); err == nil {
			c.install(set)
			c.succeeded()
			return nil
		}
	}
	c.failed(ctx, err)
	return err
}

// refreshTimeout bounds one refresh: long enough for a slow round trip, short enough that a
// hanging metadata store does not stall the worker for long.
func (c *Cache) refreshTimeout() time.Duration {
	return max(2*c.opts.RefreshInterval, time.Second)
}

// Start runs the refresh worker until Stop or ctx ends. A second Start is a no-op.
func (c *Cache) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// Failures are logged and counted; the last keys stay.
		worker.Every(ctx, c.opts.RefreshInterval, func() { _ = c.Refresh(ctx) })
	}()
}

// Stop stops the worker and waits for it.
func (c *Cache) Stop() {
	c.mu.Lock()
	cancel := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		c.wg.Wait()
	}
}

// install publishes set as the current keys.
func (c *Cache) install(set shard.KeySet) {
	snap := &keySnapshot{version: set.Version, byID: make(map[string]*cachedKey, len(set.Keys))}
	for _, k := range set.Keys {
		if len(k.SecretHash) != sha256.Size {
			continue // cannot match any secret
		}
		var scopes ScopeSet
		for _, n := range k.Scopes {
			scopes |= Scope(n).bit() // a scope this version does not know grants nothing
		}
		ck := &cachedKey{
			principal: Principal{KeyID: k.ID, Name: k.Name, Scopes: scopes, Rate: k.Rate, Burst: k.Burst},
			expiresAt: k.ExpiresAt, revoked: k.Revoked(),
		}
		copy(ck.hash[:], k.SecretHash)
		snap.byID[k.ID] = ck
	}
	c.snap.Store(snap)
	c.m.Version.Set(float64(set.Version))
	c.m.Active.Set(float64(c.ActiveKeys()))
}

// succeeded records a refresh that reached the metadata store.
func (c *Cache) succeeded() {
	c.m.LastRefresh.SetToCurrentTime()
	c.m.Stale.Set(0)
	if c.stale.CompareAndSwap(true, false) {
		c.opts.Logger.Info("API keys: metadata store reachable again", "keys_version", c.Version())
	}
}

// failed records a refresh that did not reach the metadata store: logged once per outage.
func (c *Cache) failed(ctx context.Context, err error) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return // stopping, not failing
	}
	c.m.RefreshFailures.Inc()
	c.m.Stale.Set(1)
	if c.stale.CompareAndSwap(false, true) {
		c.opts.Logger.Warn("API keys: cannot refresh from the metadata store; serving the keys loaded last",
			"keys_version", c.Version(), "err", err)
	}
}

// Version returns the version of the keys the cache holds (-1 before the first load).
func (c *Cache) Version() int64 {
	if s := c.snap.Load(); s != nil {
		return s.version
	}
	return -1
}

// Metrics returns the cache's series (for tests, or to register them elsewhere).
func (c *Cache) Metrics() CacheMetrics { return c.m }

// Stale reports whether the last refresh failed (the cache serves older keys).
func (c *Cache) Stale() bool { return c.stale.Load() }

// ActiveKeys counts the keys that are neither revoked nor expired: `serve` refuses to start
// with none unless auth.mode is none.
func (c *Cache) ActiveKeys() int {
	s := c.snap.Load()
	if s == nil {
		return 0
	}
	now, n := c.opts.Now(), 0
	for _, k := range s.byID {
		if !k.revoked && (k.expiresAt.IsZero() || now.Before(k.expiresAt)) {
			n++
		}
	}
	return n
}

// Authenticate returns the principal of the request's Authorization header. A missing,
// malformed, unknown, wrong, expired or revoked key is unauthorized; before the first load it is
// meta_unavailable. It does not check scopes (Principal.Require) or limits (Limiter.Allow).
func (c *Cache) Authenticate(h http.Header) (Principal, error) {
	token, err := BearerToken(h)
	if err != nil {
		c.m.rejected(err)
		return Principal{}, err
	}
	p, err := c.Verify(token)
	if err != nil {
		c.m.rejected(err)
	}
	return p, err
}

// Verify returns the principal of a bearer token. Whether the key is expired or revoked is told
// only to a caller that knows its secret.
func (c *Cache) Verify(token string) (Principal, error) {
	id, secret, err := ParseToken(token)
	if err != nil {
		return Principal{}, unauthorized(ErrInvalidKey)
	}
	s := c.snap.Load()
	if s == nil {
		return Principal{}, inventory.Errorf(inventory.CodeMetaUnavailable, "API keys are not loaded yet: the metadata store is unavailable")
	}
	k := s.byID[id]
	if k == nil {
		return Principal{}, unauthorized(ErrInvalidKey)
	}
	sum := hashSecret(secret)
	if subtle.ConstantTimeCompare(sum[:], k.hash[:]) != 1 {
		return Principal{}, unauthorized(ErrInvalidKey)
	}
	if k.revoked {
		return Principal{}, unauthorized(ErrRevokedKey)
	}
	if !k.expiresAt.IsZero() && !c.opts.Now().Before(k.expiresAt) {
		return Principal{}, unauthorized(ErrExpiredKey)
	}
	return k.principal, nil
}
