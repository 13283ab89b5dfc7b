// Package scheduled builds the scheduled refresh function: a
// refresh.Runner over the real adapters, from package app's configuration
// and clients. (The HTTP functions are built by package routes; neither
// links the other.)
package scheduled

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
)

// Runner wires the scheduled refresh: the DynamoDB scan and
// cursors, the usage service (key cache, prober, cache writes) of the usage
// route, and the orphan sweep over Secrets Manager. metrics receives the
// embedded-metric-format line (os.Stdout in Lambda).
func Runner(b *app.Builder, cfg refresh.Config, metrics io.Writer) (*refresh.Runner, error) {
	if b.Config.UsageTable == "" {
		return nil, errors.New("scheduled: USAGE_TABLE is not set")
	}
	store := b.Store()
	ks, err := b.KeyStore()
	if err != nil {
		return nil, fmt.Errorf("scheduled: %w", err)
	}
	// Keys stay cached between runs of a warm instance. The cache is keyed
	// by secret version, so a changed key is never served from it however
	// long an entry lives: six hours means a warm instance reads each key
	// about once per 72 runs at the default schedule, not once per run.
	keys := secrets.NewKeyCache(ks, 6*time.Hour, cfg.KeyCacheSize)
	live := liveusage.New(store, keys, b.Prober(), liveusage.Options{
		Fresh: b.Config.UsageFresh, Log: b.Log,
		QuotaLowPercent: float64(b.Config.QuotaLowPercent), KeyMaxAge: b.Config.KeyMaxAge,
	})
	d := refresh.Deps{
		Source:    dynamo.ScanSource{Store: store, PageSize: cfg.PageSize},
		Cursors:   store,
		Refresher: live,
		Log:       b.Log,
		Metrics:   metrics,
	}
	if cfg.SweepMaxDeletes > 0 {
		if b.Config.StackName == "" {
			return nil, errors.New("scheduled: STACK_NAME is not set: the sweep touches only the secrets tagged with its stack")
		}
		lister, ok := b.Clients.SecretsManager.(secrets.ListDescribeAPI)
		if !ok {
			return nil, errors.New("scheduled: the Secrets Manager client cannot ListSecrets and DescribeSecret")
		}
		d.Sweep = &refresh.SweepDeps{Secrets: secrets.NewLister(ks, lister), Claims: store, Deleter: ks}
	}
	return refresh.NewRunner(cfg, b.Config.ProbeTimeout, d)
}
