package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
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

// idempotency runs mutating requests under their Idempotency-Key and purges expired keys.
type idempotency struct {
	cluster *cluster.Client
	cfg     configs.Idempotency
	log     *slog.Logger
	replays prometheus.Counter
}

// call runs fn at most once per Idempotency-Key. The key is claimed on the shard that owns the
// key's own partition: a replay with the same request gets the stored first answer, a different
// request gets idempotency_conflict, and concurrent replays wait for the first to finish.
// Answers of 5xx are not stored, so the client may retry; the mutation's own marker then
// prevents a second application if the first one did land.
func (k *idempotency) call(r *request, fn apiFunc) (int, []byte, http.Header) {
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key); err != nil {
		return errorAnswer(k.log, err)
	}
	keySum := sha256.Sum256([]byte(key))
	keyHash := keySum[:]
	reqHash := requestHash(r.Request, r.body)
	partition := k.cluster.PartitionOf("idempotency/" + hex.EncodeToString(keyHash))
	claim, err := k.claim(r.Context(), keyHash, reqHash, partition)
	switch {
	case err != nil:
		return errorAnswer(k.log, err)
	case claim.Done:
		k.replays.Inc()
		return claim.Status, claim.Body, http.Header{"Idempotent-Replayed": []string{"true"}}
	}
	run := *r
	run.marker = keyHash
	status, payload, hdr := answer(k.log, &run, fn)
	k.store(r.Context(), keyHash, partition, status, payload)
	return status, payload, hdr
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

// claim claims the key for this request, or finds its stored answer (Done). While another
// request with the key is in progress it waits, up to idempotency.wait_timeout.
func (k *idempotency) claim(ctx context.Context, keyHash, reqHash []byte, partition int) (shard.ClaimResult, error) {
	deadline := time.Now().Add(k.cfg.WaitTimeout)
	for {
		var claim shard.ClaimResult
		err := k.cluster.OnPartition(ctx, "claim_key", partition, func(st *shard.Store) error {
			var err error
			claim, err = st.ClaimKey(ctx, keyHash, reqHash, partition, k.cfg.Lease, k.cfg.Retention)
			return err
		})
		if err != nil || claim.Done || !claim.InProgress {
			return claim, err
		}
		if time.Now().After(deadline) {
			return claim, inventory.Errorf(inventory.CodeShardUnavailable, "a request with this Idempotency-Key is still in progress").
				WithDetails(map[string]any{"shards": []string{}})
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return claim, ctx.Err()
		}
	}
}

// store keeps the answer under the key (a 5xx releases the key instead), even if the client has
// gone away meanwhile.
func (k *idempotency) store(ctx context.Context, keyHash []byte, partition, status int, payload []byte) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if status >= 500 {
		err = k.cluster.OnPartition(sctx, "release_key", partition, func(st *shard.Store) error { return st.ReleaseKey(sctx, keyHash, partition) })
	} else {
		err = k.cluster.OnPartition(sctx, "complete_key", partition, func(st *shard.Store) error {
			return st.CompleteKey(sctx, keyHash, partition, status, payload)
		})
	}
	if err != nil {
		k.log.Warn("cannot store the idempotent answer; a replay after the lease will re-run the request (its marker prevents a second application)", "err", err)
	}
}

// run purges expired idempotency keys and request markers every minute until ctx is done.
func (k *idempotency) run(ctx context.Context) {
	worker.Every(ctx, time.Minute, func() {
		for _, st := range k.cluster.Current().ActiveStores() {
			if _, err := st.Upkeep().PurgeExpiredKeys(ctx, 1000); err != nil && ctx.Err() == nil {
				k.log.Warn("purging idempotency keys failed", "shard", st.Name(), "err", err)
			}
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
