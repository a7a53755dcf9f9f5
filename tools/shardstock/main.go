// Command shardstock is the one binary of the project: the gateway (serve), cluster setup (init,
// migrate, topology) and the zero-setup local cluster (dev). main only wires the process to run.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so a second Ctrl-C ends the
	// process at once instead of waiting for a graceful shutdown.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
