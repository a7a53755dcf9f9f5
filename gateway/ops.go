package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// opsAPI serves the operational endpoints: readiness and the topology.
type opsAPI struct {
	cluster *cluster.Client // the metadata store is reached through it (timeout, breaker)
	log     *slog.Logger
}

type readyJSON struct {
	Status          string            `json:"status"`
	TopologyVersion int64             `json:"topology_version"`
	Shards          map[string]string `json:"shards"`
}

// ready answers 200 when the topology is loaded and every shard answers a ping within a second.
func (api *opsAPI) ready(r *request) (int, any, error) {
	snap := api.cluster.Current()
	if snap == nil {
		return 0, nil, inventory.Errorf(inventory.CodeShardUnavailable, "topology not loaded").WithDetails(map[string]any{"shards": []string{}})
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	out := readyJSON{Status: "ready", TopologyVersion: snap.Version(), Shards: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var down []string
	for name, st := range snap.Stores() {
		if snap.Shards()[name].State == inventory.ShardRemoved {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Shards[st.Name()] = "unavailable"
				down = append(down, st.Name())
			} else {
				out.Shards[st.Name()] = "ok"
			}
		}()
	}
	wg.Wait()
	if len(down) > 0 {
		sort.Strings(down)
		return 0, nil, inventory.Errorf(inventory.CodeShardUnavailable, "%d shard(s) do not answer", len(down)).
			WithDetails(map[string]any{"shards": down, "topology_version": snap.Version()})
	}
	return http.StatusOK, out, nil
}

type topologyJSON struct {
	Version    int64               `json:"version"`
	Partitions int                 `json:"partitions"`
	Shards     []topologyShardJSON `json:"shards"`
	Job        any                 `json:"job"`
	// Cached: the metadata store did not answer; this is the topology the gateway routes by
	// (its last load) and the resharding job is unknown (null).
	Cached bool `json:"cached"`
}

type topologyShardJSON struct {
	Name       string               `json:"name"`
	State      inventory.ShardState `json:"state"`
	Partitions int                  `json:"partitions"`
}

// topology answers from the topology this gateway routes by, with the resharding job read from
// the metadata store; while the store does not answer, at once with cached = true.
func (api *opsAPI) topology(r *request) (int, any, error) {
	snap := api.cluster.Current()
	counts := snap.PartitionCounts()
	out := topologyJSON{Version: snap.Version(), Partitions: snap.Partitions(), Shards: []topologyShardJSON{}}
	for name, info := range snap.Shards() {
		out.Shards = append(out.Shards, topologyShardJSON{Name: name, State: info.State, Partitions: counts[name]})
	}
	sort.Slice(out.Shards, func(i, j int) bool { return out.Shards[i].Name < out.Shards[j].Name })
	job, err := cluster.MetaValue(r.Context(), api.cluster, "active_job", func(m *shard.Meta, ctx context.Context) (*shard.JobProgress, error) {
		return m.Jobs().ActiveJob(ctx)
	})
	switch {
	case inventory.IsCode(err, inventory.CodeMetaUnavailable):
		out.Cached = true
	case err != nil:
		api.log.Warn("cannot read the resharding job", "err", err)
	case job != nil:
		out.Job = job
	}
	return http.StatusOK, out, nil
}
