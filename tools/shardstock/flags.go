package main

import (
	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
)

// configFlags are the flags of every command that works on a cluster named by a config file:
// --config (required) and --json.
type configFlags struct {
	configPath string
	asJSON     bool
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.configPath, "config", "", "config file (YAML) naming the metadata store (meta_dsn)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
}

// load reads the config file.
func (f *configFlags) load(cmd *cobra.Command) (configs.Config, error) {
	return loadConfig(cmd, f.configPath)
}

// openMeta loads the config and opens its metadata store.
func (f *configFlags) openMeta(cmd *cobra.Command) (*shard.Meta, error) {
	cfg, err := f.load(cmd)
	if err != nil {
		return nil, err
	}
	return shard.OpenMeta(cfg.MetaDSN)
}
