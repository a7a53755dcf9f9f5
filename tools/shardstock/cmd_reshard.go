package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shardstock/shardstock/migrate"
)

func (a *app) reshardCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reshard",
		Short: "Add or remove shards online: plan, start, status, resume, abort, cleanup",
		Long: `Online resharding moves partitions between shards while traffic continues.

  plan     show the moves, rows to copy and the balance before/after (changes nothing)
  start    create a job and run it: copy, catch up, cut over in small batches
  status   show the job's progress
  resume   continue a job after the tool crashed or was stopped
  abort    roll a job back before its cutover (targets cleaned, fences restored)
  cleanup  after a finished job, delete moved-out rows from the old shards

A typical session: plan → start → (watch status) → verify → cleanup.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(a.reshardPlanCommand(), a.reshardStartCommand(), a.reshardStatusCommand(),
		a.reshardResumeCommand(), a.reshardAbortCommand(), a.reshardCleanupCommand())
	return cmd
}

// reshardFlags are the flags plan and start share.
type reshardFlags struct {
	configFlags
	add     []string
	remove  []string
	par     int
	maxRows int
	batch   int
}

func (f *reshardFlags) register(cmd *cobra.Command, withRun bool) {
	f.configFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&f.add, "add", nil, "add a shard as NAME=DSN, NAME=file:PATH or NAME=env:VARIABLE (repeatable)")
	fl.StringArrayVar(&f.remove, "remove", nil, "remove the shard NAME (repeatable)")
	if withRun {
		fl.IntVar(&f.par, "parallel", 8, "partitions copied at once (also the parallelism of each cutover batch's final sync)")
		fl.IntVar(&f.maxRows, "max-rows-per-sec", 0, "copy rate limit in rows per second over all workers (0 = unlimited)")
		fl.IntVar(&f.batch, "cutover-batch", 8, "partitions cut over together (each batch pauses writes to its partitions briefly)")
	}
}

func (f *reshardFlags) parse(cmd *cobra.Command) ([]migrate.ShardSpec, error) {
	if err := requireFlag(cmd, "config"); err != nil {
		return nil, err
	}
	registerTLSEarly(cmd, f.configPath)
	if len(f.add) == 0 && len(f.remove) == 0 {
		return nil, usagef("give at least one --add NAME=DSN or --remove NAME")
	}
	var add []migrate.ShardSpec
	if len(f.add) > 0 {
		var err error
		if add, err = parseShardFlags(f.add); err != nil {
			return nil, err
		}
	}
	if f.par < 0 || f.maxRows < 0 || f.batch < 0 {
		return nil, usagef("--parallel, --max-rows-per-sec and --cutover-batch must not be negative")
	}
	return add, nil
}

func (a *app) resharder(cmd *cobra.Command, f configFlags, opts migrate.ReshardOptions) (*migrate.Resharder, error) {
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, err
	}
	log, err := a.logger(cfg.Log, "text")
	if err != nil {
		return nil, err
	}
	opts.Log = log
	return migrate.NewResharder(cfg.MetaDSN, opts)
}

func (a *app) reshardPlanCommand() *cobra.Command {
	var f reshardFlags
	cmd := &cobra.Command{
		Use:   "plan --config FILE (--add NAME=DSN | --remove NAME)...",
		Short: "Print the moves, rows to copy and balance before/after; changes nothing",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			add, err := f.parse(cmd)
			if err != nil {
				return err
			}
			r, err := a.resharder(cmd, f.configFlags, migrate.ReshardOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			p, err := r.Plan(cmd.Context(), add, f.remove)
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSON(a.stdout, p)
			}
			return writePlan(a.stdout, p)
		},
	}
	f.register(cmd, false)
	return cmd
}

func writePlan(w io.Writer, p migrate.Plan) error {
	fmt.Fprintf(w, "topology version %d, %d partitions; new shard set: %s\n", p.FromVersion, p.Partitions, strings.Join(p.Shards, ", "))
	fmt.Fprintf(w, "moves: %d partitions (%.1f%% of all; ideal %.1f%%), %d rows to copy\n",
		len(p.Moves), 100*p.MovedFraction, 100*p.IdealFraction, p.RowsToCopy)
	fmt.Fprintf(w, "balance before: partitions max/avg %.3f (max %d, min %d), rows max/avg %.3f\n",
		p.Before.Partitions.MaxOverAvg, p.Before.Partitions.Max, p.Before.Partitions.Min, p.Before.Rows.MaxOverAvg)
	fmt.Fprintf(w, "balance after:  partitions max/avg %.3f (max %d, min %d), rows max/avg %.3f\n",
		p.After.Partitions.MaxOverAvg, p.After.Partitions.Max, p.After.Partitions.Min, p.After.Rows.MaxOverAvg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PARTITION\tFROM\tTO\tROWS")
	for _, m := range p.Moves {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\n", m.Partition, m.From, m.To, m.Rows)
	}
	return tw.Flush()
}

func (a *app) reshardStartCommand() *cobra.Command {
	var f reshardFlags
	cmd := &cobra.Command{
		Use:   "start --config FILE (--add NAME=DSN | --remove NAME)... [--parallel K] [--max-rows-per-sec R]",
		Short: "Create a resumable resharding job and run it to completion online",
		Long: `Create a resharding job and run it: new shards are migrated, moving partitions are copied
in parallel (rate-limited), caught up from the change log, then cut over in small batches
(fence the source, final catch-up, checksum, publish the new topology). Gateways hold requests
for a partition during its cutover and retry on the new owner. If the tool stops, run
'reshard resume'; before the cutover, 'reshard abort' rolls everything back.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			add, err := f.parse(cmd)
			if err != nil {
				return err
			}
			pr := a.newProgress()
			defer pr.finish()
			r, err := a.resharder(cmd, f.configFlags, migrate.ReshardOptions{Parallel: f.par, MaxRowsPerSec: f.maxRows, CutoverBatch: f.batch, OnProgress: pr.update})
			if err != nil {
				return err
			}
			defer r.Close()
			job, err := r.Create(cmd.Context(), add, f.remove)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "job %d created: %d partitions to move\n", job.ID, len(job.Moves))
			job, err = r.Run(cmd.Context(), job.ID)
			pr.finish()
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("interrupted; run 'shardstock reshard resume --config %s --job %d' to continue", f.configPath, job.ID)
				}
				return fmt.Errorf("job %d stopped: %w (fix the cause, then 'reshard resume --job %d', or 'reshard abort' before cutover)", job.ID, err, job.ID)
			}
			return a.printJob(job, f.asJSON)
		},
	}
	f.register(cmd, true)
	return cmd
}

func (a *app) printJob(job migrate.Job, asJSON bool) error {
	s := job.Summary()
	if asJSON {
		return writeJSON(a.stdout, s)
	}
	fmt.Fprintf(a.stdout, "job %d: %s; %d/%d partitions cut over, %d copied; %d rows copied (estimate %d); longest write pause per batch %d ms\n",
		s.Job, s.State, s.PartitionsDone, s.Partitions, s.PartitionsCopied, s.RowsCopied, s.RowsEstimate, s.MaxPauseMillis)
	if len(s.Add) > 0 || len(s.Remove) > 0 {
		fmt.Fprintf(a.stdout, "adds: %s; removes: %s\n", strings.Join(s.Add, ", "), strings.Join(s.Remove, ", "))
	}
	if s.Error != "" {
		fmt.Fprintf(a.stdout, "last error: %s\n", s.Error)
	}
	return nil
}

// jobFlags are the flags of status, resume and abort.
type jobFlags struct {
	configFlags
	job int64
}

func (f *jobFlags) register(cmd *cobra.Command) {
	f.configFlags.register(cmd)
	cmd.Flags().Int64Var(&f.job, "job", 0, "job id (default: the latest job)")
}

// jobCommand builds status, resume and abort: load the job (--job, default the latest), act on
// it, print it.
func (a *app) jobCommand(use, short string, withProgress bool,
	act func(cmd *cobra.Command, r *migrate.Resharder, job migrate.Job) (migrate.Job, error)) *cobra.Command {
	var f jobFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var opts migrate.ReshardOptions
			pr := a.newProgress()
			defer pr.finish()
			if withProgress {
				opts.OnProgress = pr.update
			}
			r, err := a.resharder(cmd, f.configFlags, opts)
			if err != nil {
				return err
			}
			defer r.Close()
			job, err := migrate.LoadJob(cmd.Context(), r.Meta(), f.job)
			if err != nil {
				return err
			}
			job, err = act(cmd, r, job)
			pr.finish()
			if err != nil {
				return err
			}
			return a.printJob(job, f.asJSON)
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) reshardStatusCommand() *cobra.Command {
	return a.jobCommand("status --config FILE [--job ID]", "Show a resharding job's progress (also in GET /v1/topology)", false,
		func(_ *cobra.Command, _ *migrate.Resharder, job migrate.Job) (migrate.Job, error) { return job, nil })
}

func (a *app) reshardResumeCommand() *cobra.Command {
	return a.jobCommand("resume --config FILE [--job ID]", "Continue a resharding job after a crash or interruption", true,
		func(cmd *cobra.Command, r *migrate.Resharder, job migrate.Job) (migrate.Job, error) {
			out, err := r.Run(cmd.Context(), job.ID)
			if err != nil {
				return out, fmt.Errorf("job %d stopped: %w", job.ID, err)
			}
			return out, nil
		})
}

func (a *app) reshardAbortCommand() *cobra.Command {
	return a.jobCommand("abort --config FILE [--job ID]", "Roll a resharding job back before its cutover", false,
		func(cmd *cobra.Command, r *migrate.Resharder, job migrate.Job) (migrate.Job, error) {
			return r.Abort(cmd.Context(), job.ID)
		})
}

func (a *app) reshardCleanupCommand() *cobra.Command {
	var f jobFlags
	cmd := &cobra.Command{
		Use:   "cleanup --config FILE",
		Short: "Delete moved-out rows from the old shards after a finished job",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.resharder(cmd, f.configFlags, migrate.ReshardOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			res, err := r.Cleanup(cmd.Context())
			if f.asJSON && err == nil {
				return writeJSON(a.stdout, res)
			}
			for _, c := range res {
				fmt.Fprintf(a.stdout, "%s: %d moved-out partitions cleaned, %d rows deleted\n", c.Shard, c.Partitions, c.Rows)
			}
			return err
		},
	}
	f.register(cmd)
	return cmd
}

// progress shows a job's progress: a bar on a terminal, plain lines every few seconds otherwise.
type progress struct {
	out      io.Writer
	bar      *progressbar.ProgressBar
	tty      bool
	last     time.Time
	lastLine string
	start    time.Time
}

func (a *app) newProgress() *progress {
	tty := false
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	return &progress{out: a.stderr, tty: tty, start: time.Now()}
}

func (p *progress) update(phase string, s migrate.Progress) {
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions64(max(s.RowsEstimate, 1), progressbar.OptionSetWriter(p.out),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionFullWidth())
		}
		p.bar.Describe(fmt.Sprintf("%-9s partitions %d/%d", phase, s.PartitionsDone, s.Partitions))
		if s.RowsCopied > p.bar.GetMax64() {
			p.bar.ChangeMax64(s.RowsCopied)
		}
		_ = p.bar.Set64(s.RowsCopied)
		return
	}
	line := fmt.Sprintf("%s: partitions cut over %d/%d, copied %d; rows %d of ~%d", phase, s.PartitionsDone, s.Partitions, s.PartitionsCopied, s.RowsCopied, s.RowsEstimate)
	if line == p.lastLine || (time.Since(p.last) < 2*time.Second && phase == "copy") {
		return
	}
	el := time.Since(p.start).Seconds()
	fmt.Fprintf(p.out, "%s (%.0f rows/s, %.0fs)\n", line, float64(s.RowsCopied)/max(el, 0.001), el)
	p.last, p.lastLine = time.Now(), line
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.out)
		p.bar = nil
	}
}
