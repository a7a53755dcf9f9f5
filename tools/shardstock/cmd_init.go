package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
)

func (a *app) initCommand() *cobra.Command {
	var (
		configPath string
		partitions int
		shardArgs  []string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "init --config FILE [--partitions P] --shard NAME=DSN [--shard NAME=DSN ...]",
		Short: "Create the metadata schema and the first topology, and migrate every shard",
		Long: `Create the metadata schema in the config's meta_dsn and the first topology over the given
shards: P partitions (fixed for the life of the cluster) assigned by consistent hashing. Every
shard's database is created if missing and migrated. init refuses to run over an existing
topology.`,
		Example: `  shardstock init --config shardstock.yaml \
    --shard shard-1='root@tcp(10.0.0.1:3306)/shardstock' \
    --shard shard-2='root@tcp(10.0.0.2:3306)/shardstock'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			registerTLSEarly(cmd, configPath)
			specs, err := parseShardFlags(shardArgs)
			if err != nil {
				return err
			}
			names := make([]string, len(specs))
			for i, s := range specs {
				names[i] = s.Name
			}
			if err := router.ValidateLayout(names, partitions); err != nil {
				return &usageError{err}
			}
			cfg, err := loadConfig(cmd, configPath)
			if err != nil {
				return err
			}
			t, err := migrate.InitCluster(cmd.Context(), cfg.MetaDSN, partitions, specs)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			r := newTopologyReport(t)
			if asJSON {
				return writeJSON(a.stdout, r)
			}
			fmt.Fprintf(a.stdout, "initialised the cluster: %d partitions over %d shards, every shard migrated\n", t.Partitions, len(specs))
			return r.writeText(a.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "config file (YAML) naming the metadata store (meta_dsn)")
	f.IntVar(&partitions, "partitions", router.DefaultPartitions, "number of partitions, fixed for the life of the cluster")
	f.StringArrayVar(&shardArgs, "shard", nil, "a shard as NAME=DSN (go-sql-driver DSN with a database), NAME=file:PATH or NAME=env:VARIABLE (the DSN read from a file or the environment); repeat for each shard")
	f.BoolVar(&asJSON, "json", false, "print the created topology as JSON")
	return cmd
}

// resolveDSNFlag returns the DSN a --shard or --add value gives for the shard: the value itself,
// or, so that passwords need not be on the command line, the content of a file (file:PATH,
// surrounding white space removed) or of an environment variable (env:NAME). A DSN always holds
// a '/' before its database and these forms hold no '@', so no DSN is mistaken for them.
func resolveDSNFlag(shardName, v string) (string, error) {
	kind, ref, ok := strings.Cut(v, ":")
	if !ok || strings.Contains(v, "@") || kind != "file" && kind != "env" {
		return v, nil
	}
	var dsn string
	if kind == "file" {
		data, err := os.ReadFile(ref)
		if err != nil {
			return "", fmt.Errorf("shard %s: DSN file: %w", shardName, err)
		}
		dsn = strings.TrimSpace(string(data))
	} else {
		dsn = strings.TrimSpace(os.Getenv(ref))
	}
	if dsn == "" {
		return "", usagef("shard %s: %s gives an empty DSN", shardName, v)
	}
	return dsn, nil
}

// parseShardFlags parses --shard NAME=DSN values; every problem is a usage error.
func parseShardFlags(values []string) ([]migrate.ShardSpec, error) {
	if len(values) == 0 {
		return nil, usagef("at least one --shard NAME=DSN is required")
	}
	seen := map[string]bool{}
	specs := make([]migrate.ShardSpec, 0, len(values))
	for _, v := range values {
		name, dsn, ok := strings.Cut(v, "=")
		name, dsn = strings.TrimSpace(name), strings.TrimSpace(dsn)
		if !ok || name == "" || dsn == "" {
			return nil, usagef("--shard %q: want NAME=DSN, e.g. shard-1='root@tcp(127.0.0.1:3306)/shardstock'", configs.Redact(v))
		}
		dsn, err := resolveDSNFlag(name, dsn)
		if err != nil {
			return nil, err
		}
		shown := name + "=" + configs.Redact(dsn) // errors never show a password
		if err := router.ValidateShardName(name); err != nil {
			return nil, usagef("--shard %q: %v", shown, err)
		}
		if seen[name] {
			return nil, usagef("--shard %q: shard %s is given twice", shown, name)
		}
		seen[name] = true
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			return nil, usagef("--shard %s: bad DSN: %v", name, err)
		}
		if cfg.DBName == "" {
			return nil, &usageError{errors.New("--shard " + name + ": the DSN names no database, e.g. root@tcp(127.0.0.1:3306)/shardstock")}
		}
		specs = append(specs, migrate.ShardSpec{Name: name, DSN: dsn})
	}
	return specs, nil
}
