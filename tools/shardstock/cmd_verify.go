package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/migrate"
)

func (a *app) verifyCommand() *cobra.Command {
	var f configFlags
	var quiescent bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "verify --config FILE [--parallel K] [--quiescent]",
		Short: "Check the whole cluster's consistency online; exit 0 only when clean",
		Long: `Check every shard in parallel: every row on the shard that owns its partition (rows that a
finished reshard left on old shards are counted, not reported, until 'reshard cleanup'), no
duplicates across shards, 0 <= reserved <= on_hand for every product, on_hand and reserved equal
the sums of the product's change-log deltas (plus its archived ledger base), reserved equals its held reservation lines, every
reservation whole (no half-committed or leaked lines), and each partition owned by exactly one
shard. With --quiescent (no traffic), in-flight sagas and fence/map mismatches count too.
Exit code 0 only when clean; every violation is printed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			rep, err := migrate.VerifyCluster(cmd.Context(), cfg.MetaDSN, migrate.VerifyOptions{Quiescent: quiescent, Parallel: parallel})
			if err != nil {
				return err
			}
			if f.asJSON {
				if err := writeJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "checked %d products, %d reservations, %d lines, %d change-log rows; %d leftover rows awaiting cleanup\n",
					rep.Products, rep.Reservations, rep.Lines, rep.Changes, rep.Leftovers)
				for _, v := range rep.Violations {
					fmt.Fprintf(a.stdout, "VIOLATION %s\n", v)
				}
				if rep.Clean() {
					fmt.Fprintln(a.stdout, "clean")
				}
			}
			if !rep.Clean() {
				return fmt.Errorf("%d violation(s)", len(rep.Violations))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&parallel, "parallel", 0, "shards scanned at once (default: all)")
	cmd.Flags().BoolVar(&quiescent, "quiescent", false, "also require no saga in flight and fences matching the map (use without traffic)")
	return cmd
}
