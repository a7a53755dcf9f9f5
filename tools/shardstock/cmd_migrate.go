package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
)

// metaTarget is the name the metadata store has in migration reports.
const metaTarget = "meta"

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Schema migrations on the metadata store and every shard",
		Long: `Schema migrations (golang-migrate, embedded in the binary) on the metadata store and on
every shard the topology names, shards in parallel, each target reported on its own line.
The command exits 1 when any target failed.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(
		a.migrateUpCommand(),
		a.migrateDownCommand(),
		a.migrateVersionCommand(),
	)
	return cmd
}

func (a *app) migrateUpCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "up --config FILE",
		Short: "Apply every pending migration: the metadata store first, then all shards in parallel",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runMigration(cmd, f, "up", func(ctx context.Context, dsn string, s shard.Schema) error {
				return shard.MigrateUp(ctx, dsn, s)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) migrateDownCommand() *cobra.Command {
	var f configFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "down N --config FILE --yes",
		Short: "Roll back N migrations: all shards in parallel first, then the metadata store",
		Long: `Roll back the last N migrations on every shard (in parallel) and then on the metadata
store. Rolling back drops tables and their data, so the command needs --yes.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n <= 0 {
				return usagef("migrate down needs a positive number of migrations to roll back, got %q", args[0])
			}
			if !yes {
				return usagef("migrate down %d drops tables and their data on the metadata store and on every shard; rerun with --yes to confirm", n)
			}
			return a.runMigration(cmd, f, "down", func(ctx context.Context, dsn string, s shard.Schema) error {
				return shard.MigrateDown(ctx, dsn, s, n)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the rollback")
	return cmd
}

func (a *app) migrateVersionCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "version --config FILE",
		Short: "Print the migration version of the metadata store and of every shard",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runMigration(cmd, f, "version", nil)
		},
	}
	f.register(cmd)
	return cmd
}

// migrationReport is the --json output of every migrate subcommand.
type migrationReport struct {
	Action  string         `json:"action"`
	OK      bool           `json:"ok"`
	Targets []targetReport `json:"targets"`
}

// targetReport is one database's outcome.
type targetReport struct {
	Target string `json:"target"`
	Schema string `json:"schema"` // meta or shard
	// Version is the migration version afterwards; null when no migration is applied or it
	// could not be read.
	Version *uint `json:"version"`
	Dirty   bool  `json:"dirty"`
	// Before is the version before up/down ran (null for none); absent for version.
	Before  *uint  `json:"before,omitempty"`
	Changed bool   `json:"changed"`
	Error   string `json:"error,omitempty"`

	hasBefore bool
}

// migrationStep changes one database's schema; nil only reads the version.
type migrationStep func(ctx context.Context, dsn string, s shard.Schema) error

// runMigration runs step on the metadata store and on every shard and prints one line per
// target. up does the metadata store first, down the shards first (and leaves the metadata store
// alone when a shard failed); shards run in parallel.
func (a *app) runMigration(cmd *cobra.Command, f configFlags, action string, step migrationStep) error {
	cfg, err := f.load(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	report := migrationReport{Action: action, Targets: []targetReport{}}
	metaSpec := migrate.ShardSpec{Name: metaTarget, DSN: cfg.MetaDSN}
	if action == "up" {
		report.Targets = append(report.Targets, migrateTarget(ctx, metaSpec, shard.MetaSchema, step))
	}
	shards, listErr := migrate.Shards(ctx, cfg.MetaDSN)
	shardsFailed := false
	if listErr == nil {
		shardReports := make([]targetReport, len(shards))
		index := make(map[string]int, len(shards))
		for i, s := range shards {
			index[s.Name] = i
		}
		migrate.ForEach(ctx, shards, func(ctx context.Context, s migrate.ShardSpec) error {
			shardReports[index[s.Name]] = migrateTarget(ctx, s, shard.StoreSchema, step)
			return nil
		})
		for _, r := range shardReports {
			shardsFailed = shardsFailed || r.Error != ""
		}
		report.Targets = append(report.Targets, shardReports...)
	}
	switch {
	case action == "version":
		report.Targets = append([]targetReport{migrateTarget(ctx, metaSpec, shard.MetaSchema, nil)}, report.Targets...)
	case action == "down" && (listErr != nil || shardsFailed):
		report.Targets = append(report.Targets, targetReport{Target: metaTarget, Schema: "meta",
			Error: "skipped: the metadata store is rolled back only after every shard was"})
	case action == "down":
		report.Targets = append(report.Targets, migrateTarget(ctx, metaSpec, shard.MetaSchema, step))
	}
	failed := 0
	for _, t := range report.Targets {
		if t.Error != "" {
			failed++
		}
	}
	report.OK = failed == 0 && listErr == nil
	if f.asJSON {
		if err := writeJSON(a.stdout, report); err != nil {
			return err
		}
	} else {
		for _, t := range report.Targets {
			fmt.Fprintln(a.stdout, t.line(action))
		}
	}
	if listErr != nil {
		return fmt.Errorf("migrate %s: cannot list the shards from the metadata store: %w", action, listErr)
	}
	if failed > 0 {
		return fmt.Errorf("migrate %s failed on %d of %d targets", action, failed, len(report.Targets))
	}
	return nil
}

// migrateTarget runs step (nil: none) on one database and reads its version before and after.
func migrateTarget(ctx context.Context, s migrate.ShardSpec, schema shard.Schema, step migrationStep) targetReport {
	r := targetReport{Target: s.Name, Schema: "shard"}
	if schema == shard.MetaSchema {
		r.Schema = "meta"
	}
	if step != nil {
		before, err := shard.MigrationVersion(ctx, s.DSN, schema)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.hasBefore = true
		r.Before = versionPtr(before)
		if err := step(ctx, s.DSN, schema); err != nil {
			r.Error = err.Error()
		}
	}
	after, err := shard.MigrationVersion(ctx, s.DSN, schema)
	if err != nil {
		if r.Error == "" {
			r.Error = err.Error()
		}
		return r
	}
	r.Version, r.Dirty = versionPtr(after), after.Dirty
	r.Changed = r.hasBefore && !sameVersion(r.Before, r.Version)
	return r
}

func versionPtr(v shard.SchemaVersion) *uint {
	if v.None {
		return nil
	}
	n := v.Version
	return &n
}

func sameVersion(a, b *uint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func versionText(v *uint) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

// line is the target's line in the text output.
func (r targetReport) line(action string) string {
	dirty := ""
	if r.Dirty {
		dirty = ", DIRTY: fix the schema by hand, then force the version with golang-migrate"
	}
	switch {
	case r.Error != "":
		if r.Version != nil {
			return fmt.Sprintf("%s: FAILED at version %s%s: %s", r.Target, versionText(r.Version), dirty, r.Error)
		}
		return fmt.Sprintf("%s: FAILED: %s", r.Target, r.Error)
	case !r.hasBefore && r.Version == nil:
		return fmt.Sprintf("%s: no migration applied", r.Target)
	case !r.hasBefore:
		return fmt.Sprintf("%s: version %s%s", r.Target, versionText(r.Version), dirty)
	case r.Changed:
		return fmt.Sprintf("%s: migrated from version %s to %s%s", r.Target, versionText(r.Before), versionText(r.Version), dirty)
	case action == "down":
		return fmt.Sprintf("%s: nothing to roll back (version %s%s)", r.Target, versionText(r.Version), dirty)
	default:
		return fmt.Sprintf("%s: up to date (version %s%s)", r.Target, versionText(r.Version), dirty)
	}
}
