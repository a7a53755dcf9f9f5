package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/shardstock/shardstock/shard"
)

// writeJSON prints v as indented JSON, the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// topologyReport is the printed form of a topology (`init`, `topology show`). Its JSON matches
// GET /v1/topology plus each shard's share of the partitions.
type topologyReport struct {
	Version    int64                 `json:"version"`
	Partitions int                   `json:"partitions"`
	Shards     []topologyShardReport `json:"shards"`
	// Job is the resharding job in progress, or null.
	Job *shard.JobProgress `json:"job"`
}

type topologyShardReport struct {
	Name         string  `json:"name"`
	State        string  `json:"state"`
	Partitions   int     `json:"partitions"`
	SharePercent float64 `json:"share_percent"`
}

// newTopologyReport summarises t: every shard the metadata store knows, sorted by name.
func newTopologyReport(t shard.Topology) topologyReport {
	counts := t.Map.Counts()
	r := topologyReport{Version: t.Version, Partitions: t.Partitions, Shards: []topologyShardReport{}}
	for name, info := range t.Shards {
		share := 0.0
		if t.Partitions > 0 {
			share = float64(counts[name]) * 100 / float64(t.Partitions)
		}
		r.Shards = append(r.Shards, topologyShardReport{Name: name, State: string(info.State), Partitions: counts[name], SharePercent: share})
	}
	sort.Slice(r.Shards, func(i, j int) bool { return r.Shards[i].Name < r.Shards[j].Name })
	return r
}

// writeText prints the report as a table.
func (r topologyReport) writeText(w io.Writer) error {
	fmt.Fprintf(w, "topology version: %d\n", r.Version)
	fmt.Fprintf(w, "partitions:       %d\n", r.Partitions)
	fmt.Fprintf(w, "shards:           %d\n", len(r.Shards))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSTATE\tPARTITIONS\tSHARE")
	for _, s := range r.Shards {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%.1f%%\n", s.Name, s.State, s.Partitions, s.SharePercent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Job == nil {
		_, err := fmt.Fprintln(w, "resharding job: none")
		return err
	}
	j := r.Job
	_, err := fmt.Fprintf(w, "resharding job: %d %s, %d/%d partitions cut over (%d copied), %d rows copied of ~%d, max write pause %d ms%s\n",
		j.ID, j.State, j.PartitionsDone, j.Partitions, j.PartitionsCopied, j.RowsCopied, j.RowsEstimate, j.MaxPauseMillis, errSuffix(j.Error))
	return err
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; last error: " + e
}
