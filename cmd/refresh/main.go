// Command refresh runs the scheduled usage refresh once, every segment, as
// the deployed function would (make refresh). Point AWS_ENDPOINT_URL at the
// emulator `make run` printed to refresh its credentials; without it, a
// fresh moto_server is started (and has nothing to refresh).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "refresh:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		fmt.Fprintln(os.Stderr, "refresh: AWS_ENDPOINT_URL is unset: starting a fresh emulator; set it to the one `make run` printed to refresh its credentials")
	}
	local, err := localapi.Start(ctx)
	if err != nil {
		return err
	}
	defer local.Stop()
	tpl, b := local.Template, local.Builder
	_, timeout, err := localapi.RefreshSchedule(tpl)
	if err != nil {
		return err
	}
	cfg, err := refresh.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	r, err := scheduled.Runner(b, cfg, os.Stdout)
	if err != nil {
		return err
	}
	return r.RunAll(ctx, timeout)
}
