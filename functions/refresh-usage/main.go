// Command refresh-usage is the scheduled Lambda function that keeps the
// usage cache fresh; all of it but the wiring lives in shared/refresh.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/refresh"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	r, err := build(context.Background())
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(r.Handle) // the context carries the invocation's deadline
}

func build(ctx context.Context) (*refresh.Runner, error) {
	cfg, err := refresh.LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	clients, err := refresh.Clients(ctx)
	if err != nil {
		return nil, err
	}
	b, err := app.NewBuilder(ctx, os.Getenv, clients)
	if err != nil {
		return nil, err
	}
	return refresh.NewRunner(b, cfg, os.Stdout)
}
