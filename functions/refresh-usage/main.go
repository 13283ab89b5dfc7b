// Command refresh-usage is the scheduled Lambda function that keeps the
// usage cache fresh; all of it but the wiring lives in shared/refresh.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
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
	// More attempts than the SDK's three, so throttled DynamoDB and Secrets
	// Manager calls back off (exponential, with jitter) rather than fail.
	awsCfg := app.AWSConfig(os.Getenv, 8)
	clients := app.Clients{DynamoDB: dynamodb.NewFromConfig(awsCfg), SecretsManager: secretsmanager.NewFromConfig(awsCfg)}
	b, err := app.NewBuilder(ctx, os.Getenv, clients)
	if err != nil {
		return nil, err
	}
	return scheduled.Runner(b, cfg, os.Stdout)
}
