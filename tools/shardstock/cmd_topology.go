package main

import (
	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/shard"
)

func (a *app) topologyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Inspect the cluster topology",
	}
	groupCommand(cmd)
	cmd.AddCommand(a.topologyShowCommand())
	return cmd
}

func (a *app) topologyShowCommand() *cobra.Command {
	var configPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --config FILE",
		Short: "Print the topology: version, partition count, each shard and any resharding job",
		Long: `Print the current topology from the metadata store: its version, the partition count,
every shard with its state, partition count and share of the partitions, and any resharding job.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, configPath)
			if err != nil {
				return err
			}
			meta, err := shard.OpenMeta(cfg.MetaDSN)
			if err != nil {
				return err
			}
			defer meta.Close()
			t, err := meta.Load(cmd.Context())
			if err != nil {
				return err
			}
			r := newTopologyReport(t)
			if job, err := meta.Jobs().ActiveJob(cmd.Context()); err != nil {
				return err
			} else if job != nil {
				r.Job = job
			}
			if asJSON {
				return writeJSON(a.stdout, r)
			}
			return r.writeText(a.stdout)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "config file (YAML), e.g. .shardstock-dev/shardstock.yaml")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
