package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/migrate"
)

func (a *app) archiveCommand() *cobra.Command {
	var configPath, olderThan, out string
	var asJSON, dryRun bool
	var chunk, fileRows, parallel int
	cmd := &cobra.Command{
		Use:   "archive --config FILE --older-than AGE --out DIR [--dry-run] [--json]",
		Short: "Move old change-log rows to compressed JSONL files, verify them, then delete them",
		Long: `Ledger retention. For every shard in parallel, change-log rows older than --older-than
(e.g. 90d, 36h, 1d12h) that every event relay cursor has already consumed, in partitions the
shard owns, are written in seq order to gzip-compressed JSONL files (one JSON object per row,
every column) under a new run directory DIR/archive-<UTC time>/, one subdirectory per shard,
with a manifest.json listing each file's rows, seq range, delta sums and SHA-256. Every file is
then read back and checked against the manifest and against the shard; only when all of them
verify are the rows deleted, in chunks of --chunk rows, each chunk in one transaction that also
adds the rows' per-product sums to the ledger base (so 'verify' still finds on_hand equal to
the ledger base plus the remaining change log). The newest row of each shard's log is kept.

The archive refuses to run while a resharding job is active, and never deletes rows an event
relay or webhook/NATS cursor has not consumed (a shard whose relay never ran keeps every row).
With --dry-run it only counts what would be archived.

Exit codes: 0 success, 1 failed operation (including a resharding job in progress), 2 bad usage.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag(cmd, "config"); err != nil {
				return err
			}
			if err := requireFlag(cmd, "older-than"); err != nil {
				return err
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return usagef("--older-than: %v", err)
			}
			if out == "" && !dryRun {
				return usagef("%s needs --out (or --dry-run)", cmd.CommandPath())
			}
			if chunk < 0 || fileRows < 0 || parallel < 0 {
				return usagef("--chunk, --file-rows and --parallel must not be negative")
			}
			cfg, err := loadConfig(cmd, configPath)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			rep, err := migrate.Archive(cmd.Context(), cfg.MetaDSN, age, out, migrate.ArchiveOptions{
				ChunkRows: chunk, FileRows: fileRows, Parallel: parallel, DryRun: dryRun,
				OnProgress: func(p migrate.ArchiveProgress) {
					mu.Lock()
					defer mu.Unlock()
					fmt.Fprintf(a.stderr, "%s: %s %d rows (%d file(s), %d bytes)\n", p.Shard, p.Phase, p.Rows, p.Files, p.Bytes)
				},
			})
			if asJSON && (err == nil || rep.Dir != "") {
				if jerr := writeJSON(a.stdout, rep); jerr != nil && err == nil {
					err = jerr
				}
			} else if err == nil {
				writeArchiveText(a, rep)
			}
			if err != nil && rep.Dir != "" {
				return fmt.Errorf("%w (run directory %s; %d of %d archived rows deleted)", err, rep.Dir, rep.RowsDeleted, rep.RowsArchived)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&configPath, "config", "", "config file (YAML) naming the metadata store")
	fl.StringVar(&olderThan, "older-than", "", "archive rows created longer ago than this: 90d, 36h, 1d12h, 2160h")
	fl.StringVar(&out, "out", "", "directory to write the run directory into")
	fl.BoolVar(&dryRun, "dry-run", false, "only count what would be archived")
	fl.BoolVar(&asJSON, "json", false, "print the result (the manifest) as JSON")
	fl.IntVar(&chunk, "chunk", 1000, "rows deleted per transaction")
	fl.IntVar(&fileRows, "file-rows", 100000, "rows per archive file")
	fl.IntVar(&parallel, "parallel", 0, "shards processed at once (default: all)")
	return cmd
}

func writeArchiveText(a *app, rep migrate.ArchiveReport) {
	if rep.DryRun {
		for _, s := range rep.Shards {
			fmt.Fprintf(a.stdout, "%s: would archive %d rows (seq %d..%d, below %d, created before %s)\n",
				s.Shard, s.Rows, s.FromSeq, s.ToSeq, s.SeqBelow, s.Cutoff.Format(time.RFC3339))
		}
		fmt.Fprintf(a.stdout, "total: would archive %d rows\n", rep.RowsArchived)
		return
	}
	for _, s := range rep.Shards {
		fmt.Fprintf(a.stdout, "%s: archived %d rows (seq %d..%d), deleted %d, %d file(s), %d bytes, %.1fs\n",
			s.Shard, s.Rows, s.FromSeq, s.ToSeq, s.Deleted, len(s.Files), s.Bytes, s.DurationSeconds)
	}
	fmt.Fprintf(a.stdout, "total: archived %d rows, deleted %d, %d bytes in %.1fs\n", rep.RowsArchived, rep.RowsDeleted, rep.Bytes, rep.DurationSeconds)
	fmt.Fprintf(a.stdout, "manifest: %s\n", filepath.Join(rep.Dir, migrate.ManifestName))
}

var dayPrefix = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseAge parses a non-negative age: a Go duration ("36h", "2160h", "90m") optionally preceded
// by whole days ("90d", "1d12h").
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	rest := s
	if m := dayPrefix.FindStringSubmatch(s); m != nil {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > 100000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		d, rest = time.Duration(days)*24*time.Hour, m[2]
		if rest == "" {
			return d, nil
		}
	}
	more, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("%q is not an age like 90d, 36h or 1d12h", s)
	}
	if more < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d + more, nil
}
