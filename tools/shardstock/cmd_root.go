package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
)

// Exit codes of every subcommand (see the contract's "Binary" section).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// usageError is bad usage: an unknown command or flag, a missing or malformed argument. It makes
// the process exit 2; every other error exits 1.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// usageArgs turns a cobra positional-argument validator's failures into usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// app holds what every subcommand shares: the output streams and the global flags.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
}

// run executes the command line args and returns the process exit code. Cancelling ctx (SIGINT
// or SIGTERM in main) stops long-running commands gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandPathFor(root, args))
		return exitUsage
	}
	return exitFailed
}

// commandPathFor names the (sub)command args point at, for the "--help" hint.
func commandPathFor(root *cobra.Command, args []string) string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return root.CommandPath()
	}
	return cmd.CommandPath()
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "shardstock",
		Short: "Sharded inventory service: gateway, cluster setup and a local dev cluster",
		Long: `shardstock runs the inventory gateway over a cluster of MySQL/MariaDB shards and
manages that cluster: schema migrations, the topology, and a zero-setup local cluster.

Exit codes: 0 success, 1 failed operation, 2 bad usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	groupCommand(root)
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn or error (default: the config's, else info)")
	pf.StringVar(&a.logFormat, "log-format", "", "log format: text or json (default: text; serve uses the config's)")
	root.AddCommand(
		a.serveCommand(),
		a.initCommand(),
		a.migrateCommand(),
		a.topologyCommand(),
		a.devCommand(),
		a.reshardCommand(),
		a.verifyCommand(),
		a.archiveCommand(),
		a.benchCommand(),
		a.keysCommand(),
		a.forecastCommand(),
		a.anomaliesCommand(),
	)
	return root
}

// groupCommand makes cmd, which only holds subcommands, fail with a usage error when run without
// one or with an unknown one (cobra would print help and exit 0).
func groupCommand(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return &usageError{errors.New(msg)}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		c.SetOut(c.ErrOrStderr())
		_ = c.Help()
		return usagef("%s needs a subcommand", c.CommandPath())
	}
}

// requireFlag returns a usage error when the named flag was not given.
func requireFlag(cmd *cobra.Command, name string) error {
	if !cmd.Flags().Changed(name) {
		return usagef("%s needs --%s", cmd.CommandPath(), name)
	}
	return nil
}

// loadConfig reads the file named by the required --config flag and registers its mysql_tls
// settings with the MySQL driver, before any subcommand opens a connection (the DSNs in the
// config and in the metadata store select them with tls=<name>).
func loadConfig(cmd *cobra.Command, path string) (configs.Config, error) {
	if err := requireFlag(cmd, "config"); err != nil {
		return configs.Config{}, err
	}
	cfg, err := configs.Load(path)
	if err != nil {
		return cfg, err
	}
	for name, t := range cfg.MySQLTLS {
		if err := shard.RegisterTLS(name, shard.TLSOptions(t)); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return cfg, nil
}

// registerTLSEarly registers the config's mysql_tls names, when --config names a valid config,
// before a command parses DSNs given as flags (--shard, --add): a DSN with tls=<name> parses
// only once the name is registered. Errors are the command's own loadConfig's to report.
func registerTLSEarly(cmd *cobra.Command, path string) {
	if cmd.Flags().Changed("config") {
		_, _ = loadConfig(cmd, path)
	}
}

// logger builds the process logger on stderr: the level from --log-level, else cfg's; the format
// from --log-format, else defaultFormat.
func (a *app) logger(cfg configs.Log, defaultFormat string) (*slog.Logger, error) {
	level := cfg.Level
	if a.logLevel != "" {
		level = a.logLevel
	}
	if level == "" {
		level = "info"
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level must be debug, info, warn or error, got %q", level)
	}
	format := defaultFormat
	if a.logFormat != "" {
		format = a.logFormat
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	default:
		return nil, usagef("--log-format must be text or json, got %q", format)
	}
}
