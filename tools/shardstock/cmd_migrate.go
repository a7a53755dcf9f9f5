package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/migrate"
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

// migrateFlags are the flags every migrate subcommand shares.
type migrateFlags struct {
	configPath string
	asJSON     bool
}

func (f *migrateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.configPath, "config", "", "config file (YAML) naming the metadata store (meta_dsn)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
}

func (a *app) migrateUpCommand() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "up --config FILE",
		Short: "Apply every pending migration: the metadata store first, then all shards in parallel",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runMigration(cmd, f, "up", func(ctx context.Context, dsn string, s migrate.Schema) error {
				return migrate.Up(ctx, dsn, s)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) migrateDownCommand() *cobra.Command {
	var f migrateFlags
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
			return a.runMigration(cmd, f, "down", func(ctx context.Context, dsn string, s migrate.Schema) error {
				return migrate.Down(ctx, dsn, s, n)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the rollback")
	return cmd
}

func (a *app) migrateVersionCommand() *cobra.Command {
	var f migrateFlags
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
type migrationStep func(ctx context.Context, dsn string, s migrate.Schema) error

// runMigration runs step on the metadata store and on every shard and prints one line per
// target. up does the metadata store first, down the shards first; shards run in parallel.
func (a *app) runMigration(cmd *cobra.Command, f migrateFlags, action string, step migrationStep) error {
	cfg, err := loadConfig(cmd, f.configPath)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	report := migrationReport{Action: action, OK: true}
	metaSpec := migrate.ShardSpec{Name: metaTarget, DSN: cfg.MetaDSN}
	metaStep := func() {
		report.Targets = append(report.Targets, migrateTarget(ctx, metaSpec, migrate.MetaSchema, step))
	}
	if action == "up" {
		metaStep()
	}
	shards, listErr := migrate.Shards(ctx, cfg.MetaDSN)
	if listErr == nil {
		reports := make(map[string]targetReport, len(shards))
		results := migrate.ForEach(ctx, shards, func(ctx context.Context, s migrate.ShardSpec) error {
			r := migrateTarget(ctx, s, migrate.ShardSchema, step)
			reports[s.Name] = r // distinct keys, but a map needs a lock: see below
			return nil
		})
		_ = results
		for _, s := range shards {
			report.Targets = append(report.Targets, reports[s.Name])
		}
	}
	if action != "up" {
		metaStep()
	}
	for _, t := range report.Targets {
		if t.Error != "" {
			report.OK = false
		}
	}
	if listErr != nil {
		report.OK = false
	}
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
		return fmt.Errorf("cannot list the shards from the metadata store: %w", listErr)
	}
	if !report.OK {
		var failed []error
		for _, t := range report.Targets {
			if t.Error != "" {
				failed = append(failed, errors.New(t.Target))
			}
		}
		return fmt.Errorf("migrate %s failed on %d of %d targets", action, len(failed), len(report.Targets))
	}
	return nil
}
