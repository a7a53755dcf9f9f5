package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/gateway"
)

func (a *app) serveCommand() *cobra.Command {
	var configPath, listen, adminListen string
	cmd := &cobra.Command{
		Use:   "serve --config FILE [--listen ADDR] [--admin-listen ADDR]",
		Short: "Run the gateway (the HTTP API) until SIGINT or SIGTERM",
		Long: `Run the gateway: the HTTP API over the cluster named by the config's meta_dsn. It serves
until SIGINT or SIGTERM, then closes event streams, stops accepting, lets in-flight requests
finish (up to http.shutdown_timeout) and stops its background workers.

With tls.cert_file and tls.key_file it serves HTTPS and re-reads both files on SIGHUP (new
connections get the new certificate; open ones are kept). mysql_tls settings are registered
for the DSNs that name them (tls=<name>).

Clients authenticate with API keys (Authorization: Bearer <key>). With auth.mode keys (the
default) serve refuses to start while the metadata store holds no active key: create one first
with "shardstock keys create". auth.mode none serves every request without a key and logs a
warning at startup.

When admin_listen (or --admin-listen) is set, /metrics and /debug/pprof/ are served on that
address without a key (keep it private); on the API address /metrics needs a key with the admin
scope and pprof is not served.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, configPath)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("admin-listen") {
				cfg.AdminListen = adminListen
			}
			log, err := a.logger(cfg.Log, cfg.Log.Format)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
			if errors.Is(err, gateway.ErrNoActiveKeys) {
				return fmt.Errorf("start gateway: %w; create one first:\n  shardstock keys create --config %s --name NAME --scopes read,write,reserve,admin\n"+
					"(or set auth.mode: none in the config to serve without keys)", err, configPath)
			}
			if err != nil {
				return fmt.Errorf("start gateway: %w", err)
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			if cfg.AdminListen != "" {
				stopAdmin, err := serveAdmin(cfg.AdminListen, srv.AdminHandler(), log)
				if err != nil {
					ln.Close()
					return err
				}
				defer stopAdmin()
			}
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "config file (YAML)")
	f.StringVar(&listen, "listen", "", "HTTP address of the API, overriding the config's listen")
	f.StringVar(&adminListen, "admin-listen", "", "address for /metrics and /debug/pprof (no key), overriding the config's admin_listen")
	return cmd
}

// serveAdmin serves the gateway's admin handler (/metrics, /debug/pprof/; never the API) on
// addr and returns the function that shuts it down.
func serveAdmin(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server failed", "err", err)
		}
	}()
	log.Info("admin (metrics, pprof) listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
