package main

import (
	"github.com/spf13/cobra"
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
	var f configFlags
	cmd := &cobra.Command{
		Use:   "show --config FILE",
		Short: "Print the topology: version, partition count, each shard and any resharding job",
		Long: `Print the current topology from the metadata store: its version, the partition count,
every shard with its state, partition count and share of the partitions, and any resharding job.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			meta, err := f.openMeta(cmd)
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
			if f.asJSON {
				return writeJSON(a.stdout, r)
			}
			return r.writeText(a.stdout)
		},
	}
	f.register(cmd)
	return cmd
}
