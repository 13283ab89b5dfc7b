// Command rollback-credential is the Lambda function behind POST /provider-credentials/{credential_id}/rollback; all of it but
// the wiring lives in shared/.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/routes"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	cfg := app.AWSConfig(os.Getenv, 0) // built once, at cold start
	h, err := routes.New(context.Background(), routes.RollbackCredential, os.Getenv, app.Clients{DynamoDB: dynamodb.NewFromConfig(cfg), SecretsManager: secretsmanager.NewFromConfig(cfg)})
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}
