package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

type markerKey struct{}

// markerFrom returns the idempotency marker (the key's hash) of the request being run under an
// Idempotency-Key, or nil.
func markerFrom(ctx context.Context) []byte {
	m, _ := ctx.Value(markerKey{}).([]byte)
	return m
}

func shortHash(b []byte) string { return hex.EncodeToString(b[:12]) }

const maxIdempotencyKeyLength = 128

// idempotentCall runs fn at most once per Idempotency-Key. The key is claimed on the shard that
// owns the key's own partition: a replay with the same request gets the stored first answer, a
// different request gets idempotency_conflict, and concurrent replays wait for the first to
// finish. Answers of 5xx are not stored, so the client may retry; the mutation's own marker
// then prevents a second application if the first one did land.
func (s *Server) idempotentCall(r *http.Request, body []byte, fn apiFunc) (int, []byte, http.Header) {
	key := r.Header.Get("Idempotency-Key")
	if utf8.RuneCountInString(key) > maxIdempotencyKeyLength || !utf8.ValidString(key) {
		return s.encodeError(inventory.Validation("Idempotency-Key", "Idempotency-Key must be 1-%d characters", maxIdempotencyKeyLength))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] == 0x7f {
			return s.encodeError(inventory.Validation("Idempotency-Key", "Idempotency-Key must not contain control characters"))
		}
	}
	ctx := r.Context()
	keySum := sha256.Sum256([]byte(key))
	keyHash := keySum[:]
	reqHash := requestHash(r, body)
	partition := s.cluster.PartitionOf("idempotency/" + hex.EncodeToString(keyHash))
	deadline := time.Now().Add(s.cfg.Idempotency.WaitTimeout)
	for {
		var claim shard.ClaimResult
		err := s.cluster.OnPartition(ctx, "claim_key", partition, func(st *shard.Store) error {
			var err error
			claim, err = st.ClaimKey(ctx, keyHash, reqHash, partition, s.cfg.Idempotency.Lease, s.cfg.Idempotency.Retention)
			return err
		})
		switch {
		case err != nil:
			return s.encodeError(err)
		case claim.Done:
			s.metrics.replays.Inc()
			return claim.Status, claim.Body, http.Header{"Idempotent-Replayed": []string{"true"}}
		case claim.InProgress:
			if time.Now().After(deadline) {
				return s.encodeError(inventory.Errorf(inventory.CodeShardUnavailable, "a request with this Idempotency-Key is still in progress").
					WithDetails(map[string]any{"shards": []string{}}))
			}
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				return s.encodeError(ctx.Err())
			}
		}
		rr := r.WithContext(context.WithValue(ctx, markerKey{}, keyHash))
		status, payload, hdr := s.call(rr, body, fn)
		// Store the answer even if the client has gone away meanwhile.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if status >= 500 {
			err = s.cluster.OnPartition(sctx, "release_key", partition, func(st *shard.Store) error { return st.ReleaseKey(sctx, keyHash, partition) })
		} else {
			err = s.cluster.OnPartition(sctx, "complete_key", partition, func(st *shard.Store) error {
				return st.CompleteKey(sctx, keyHash, partition, status, payload)
			})
		}
		if err != nil {
			s.log.Warn("cannot store the idempotent answer; a replay after the lease will re-run the request (its marker prevents a second application)", "err", err)
		}
		return status, payload, hdr
	}
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
