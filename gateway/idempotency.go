package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// shortHash is the printable prefix of a marker, used in change-log refs.
func shortHash(b []byte) string { return hex.EncodeToString(b[:12]) }

const maxIdempotencyKeyLength = 128

// homeRetry is how long the home records of a shard that failed one are not attempted.
const homeRetry = time.Second

// idempotency runs mutating requests under their Idempotency-Key and purges expired keys.
type idempotency struct {
	cluster *cluster.Client
	cfg     configs.Idempotency
	log     *slog.Logger
	replays prometheus.Counter
	// takeovers counts claims taken over from a request that was gone; homeSkipped counts
	// requests that went on without their key's home record.
	takeovers, homeSkipped prometheus.Counter

	mu       sync.Mutex
	homeDown map[string]time.Time // shard → until when its home records are not attempted
}

func newIdempotency(c *cluster.Client, cfg configs.Idempotency, log *slog.Logger, replays prometheus.Counter, reg prometheus.Registerer) *idempotency {
	k := &idempotency{cluster: c, cfg: cfg, log: log, replays: replays, homeDown: map[string]time.Time{},
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_idempotency_takeovers_total", Help: "Idempotency-Key claims taken over from a request whose gateway was gone.",
		}),
		homeSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_idempotency_home_skipped_total", Help: "Keyed requests that ran without their key's home record (its shard was unavailable).",
		}),
	}
	reg.MustRegister(k.takeovers, k.homeSkipped)
	return k
}

// idempotencyScope is the principal whose Idempotency-Keys a request uses: the id of the API key
// it was authenticated as, "" under auth.mode none (one scope for every client, hashed as before
// keys were scoped). Two API keys using the same key string never meet.
func idempotencyScope(r *request) string {
	if r.principal.KeyID == anonymous.KeyID {
		return ""
	}
	return r.principal.KeyID
}

// keyCall is one request under an Idempotency-Key.
type keyCall struct {
	key, request []byte     // the key's hash (scoped), the request's hash
	place        claimPlace // where the claim lives
	home         int        // the key's home partition
}

// call runs fn at most once per Idempotency-Key of the principal. The key is claimed with the
// data the route's request changes (claimPlaces), so a down shard fails only the requests that
// need it, and recorded in the key's home partition, so that the key reused for another request
// is idempotency_conflict wherever that request's data lives. A replay with the same request
// gets the stored first answer, and concurrent replays wait for the first to finish (the claim
// holds a session lock that dies with its gateway: a retry after a crash takes over at once).
// Answers of 5xx are not stored, so the client may retry; the mutation's own marker then
// prevents a second application if the first one did land.
func (k *idempotency) call(r *request, route, principal string, fn apiFunc) (int, []byte, http.Header) {
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key); err != nil {
		return errorAnswer(k.log, err)
	}
	ctx := r.Context()
	c := keyCall{key: KeyHash(principal, key), request: requestHash(r.Request, r.body)}
	c.home = homePartition(k.cluster, c.key)
	c.place = claimPlace{partition: c.home}
	if place, ok := claimPlaces[route]; ok {
		if p, ok := place(r, k.cluster); ok {
			c.place = p
		}
	}
	claim, err := k.claim(ctx, c)
	switch {
	case err != nil:
		return errorAnswer(k.log, err)
	case claim.Done:
		k.replays.Inc()
		return claim.Status, claim.Body, http.Header{"Idempotent-Replayed": []string{"true"}}
	}
	defer claim.Lock.Release()
	if claim.Takeover {
		k.takeovers.Inc()
		k.log.Info("idempotency key taken over from a request that is gone", "partition", c.place.partition, "meta", c.place.meta)
	}
	if err := k.recordHome(ctx, c); err != nil {
		k.release(ctx, c) // nothing ran
		return errorAnswer(k.log, err)
	}
	run := *r
	run.marker, run.takeover = c.key, claim.Takeover
	status, payload, hdr := answer(k.log, &run, fn)
	k.store(ctx, c, status, payload)
	return status, payload, hdr
}

// KeyHash is the stored identity of an Idempotency-Key sent by a principal, the id of an API
// key ("" under auth.mode none: the hash of the key alone, as before scoping); it is also the
// marker of the request's mutation. Keys cannot contain control characters, so the scoped form
// never equals an unscoped one. Tests and tools that look a key's claim or change row up use it.
func KeyHash(principal, key string) []byte {
	if principal == "" {
		sum := sha256.Sum256([]byte(key))
		return sum[:]
	}
	sum := sha256.Sum256([]byte("principal\x00" + principal + "\x00" + key))
	return sum[:]
}

// checkIdempotencyKey validates the header: at most 128 characters of valid UTF-8 without
// control characters.
func checkIdempotencyKey(key string) error {
	if utf8.RuneCountInString(key) > maxIdempotencyKeyLength || !utf8.ValidString(key) {
		return inventory.Validation("Idempotency-Key", "Idempotency-Key must be 1-%d characters", maxIdempotencyKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] == 0x7f {
			return inventory.Validation("Idempotency-Key", "Idempotency-Key must not contain control characters")
		}
	}
	return nil
}

// keyStore holds claims: a shard (*shard.Store) or the metadata store (*shard.Meta).
type keyStore interface {
	ClaimKey(ctx context.Context, c shard.Claim) (shard.ClaimResult, error)
	CompleteKey(ctx context.Context, keyHash []byte, partition, status int, body []byte) error
	ReleaseKey(ctx context.Context, keyHash []byte, partition int) error
}

// at runs fn on the store of the claim's place: the owner of its partition (following moves),
// or the metadata store (under the meta timeout and breaker).
func (k *idempotency) at(ctx context.Context, p claimPlace, op string, fn func(ctx context.Context, ks keyStore) error) error {
	if p.meta {
		return k.cluster.Meta(ctx, op, func(ctx context.Context, m *shard.Meta) error { return fn(ctx, m) })
	}
	return k.cluster.OnPartition(ctx, op, p.partition, func(st *shard.Store) error { return fn(ctx, st) })
}

// claim claims the key for this request, or finds its stored answer (Done). While a live
// request holds the key it waits, up to idempotency.wait_timeout (and the request deadline):
// on a shard inside ClaimKey, which is handed the key's lock as soon as its holder lets go; on
// the metadata store (whose calls are kept short) by polling.
func (k *idempotency) claim(ctx context.Context, c keyCall) (shard.ClaimResult, error) {
	deadline := time.Now().Add(k.cfg.WaitTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-50*time.Millisecond).Before(deadline) {
		deadline = d.Add(-50 * time.Millisecond) // leave time to answer
	}
	for {
		wait := time.Until(deadline)
		if c.place.meta || wait < 0 {
			wait = 0
		}
		var res shard.ClaimResult
		err := k.at(ctx, c.place, "claim_key", func(ctx context.Context, ks keyStore) error {
			var err error
			res, err = ks.ClaimKey(ctx, shard.Claim{Key: c.key, Request: c.request, Partition: c.place.partition,
				Wait: wait, Lease: k.cfg.Lease, Keep: k.cfg.Retention})
			return err
		})
		if err != nil || !res.InProgress {
			return res, err
		}
		if !time.Now().Before(deadline) {
			return res, inventory.Errorf(inventory.CodeShardUnavailable, "a request with this Idempotency-Key is still in progress").
				WithDetails(map[string]any{"shards": []string{}})
		}
		if wait == 0 {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
	}
}

// recordHome records the key's request in its home partition: idempotency_conflict when the key
// was used there for another request. When the home shard is unavailable (or slow beyond
// idempotency.home_timeout) the request goes on without the record: a shard outage costs only
// the requests whose data it holds, and reuse of a key across shards goes unnoticed meanwhile.
func (k *idempotency) recordHome(ctx context.Context, c keyCall) error {
	owner := k.cluster.Current().OwnerName(c.home)
	if k.homeSkipping(owner) {
		k.homeSkipped.Inc()
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, k.cfg.HomeTimeout)
	defer cancel()
	err := k.cluster.OnPartition(hctx, "record_key_home", c.home, func(st *shard.Store) error {
		return st.RecordKeyHome(hctx, c.key, c.request, c.home, k.cfg.Retention)
	})
	switch {
	case err == nil:
		return nil
	case inventory.IsCode(err, inventory.CodeIdempotencyConflict) || ctx.Err() != nil:
		return err
	}
	k.mu.Lock()
	k.homeDown[owner] = time.Now().Add(homeRetry)
	k.mu.Unlock()
	k.homeSkipped.Inc()
	k.log.Warn("idempotency key home record skipped: its shard is unavailable", "shard", owner, "err", err)
	return nil
}

// homeSkipping reports whether the shard failed a home record less than homeRetry ago.
func (k *idempotency) homeSkipping(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	until, ok := k.homeDown[name]
	if ok && time.Now().After(until) {
		delete(k.homeDown, name)
		return false
	}
	return ok
}

// store keeps the answer under the key (a 5xx releases the key instead), even if the client
// has gone away meanwhile.
func (k *idempotency) store(ctx context.Context, c keyCall, status int, payload []byte) {
	if status >= 500 {
		k.release(ctx, c)
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := k.at(sctx, c.place, "complete_key", func(ctx context.Context, ks keyStore) error {
		return ks.CompleteKey(ctx, c.key, c.place.partition, status, payload)
	})
	if err != nil {
		k.log.Warn("cannot store the idempotent answer; a replay will re-run the request (its marker prevents a second application)", "err", err)
	}
}

// release drops the claim and the key's home record of this request (best effort: a claim left
// pending is taken over by the next request with the key, a home record left names the same
// request), even if the client has gone away meanwhile.
func (k *idempotency) release(ctx context.Context, c keyCall) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := k.at(sctx, c.place, "release_key", func(ctx context.Context, ks keyStore) error { return ks.ReleaseKey(ctx, c.key, c.place.partition) })
	if err != nil {
		k.log.Warn("cannot release an idempotency key; the next request with it takes it over", "err", err)
	}
	hctx, cancel := context.WithTimeout(sctx, k.cfg.HomeTimeout)
	defer cancel()
	_ = k.cluster.OnPartition(hctx, "forget_key_home", c.home, func(st *shard.Store) error { return st.ForgetKeyHome(hctx, c.key, c.request) })
}

// run purges expired idempotency keys and request markers every minute until ctx is done.
func (k *idempotency) run(ctx context.Context) {
	worker.Every(ctx, time.Minute, func() {
		for _, st := range k.cluster.Current().ActiveStores() {
			if _, err := st.Upkeep().PurgeExpiredKeys(ctx, 1000); err != nil && ctx.Err() == nil {
				k.log.Warn("purging idempotency keys failed", "shard", st.Name(), "err", err)
			}
		}
		err := k.cluster.Meta(ctx, "purge_keys", func(ctx context.Context, m *shard.Meta) error {
			_, err := m.PurgeExpiredKeys(ctx, 1000)
			return err
		})
		if err != nil && ctx.Err() == nil {
			k.log.Warn("purging the metadata store's idempotency keys failed", "err", err)
		}
	})
}

// requestHash identifies a request: method, path and the body in canonical JSON (members
// sorted, insignificant white space removed; numbers keep their spelling). A body that is not
// JSON is hashed as it is.
func requestHash(r *http.Request, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if canon, err := json.Marshal(v); err == nil {
			h.Write(canon)
			return h.Sum(nil)
		}
	}
	h.Write(body)
	return h.Sum(nil)
}
