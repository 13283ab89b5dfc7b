// Command test-credential is the Lambda function behind POST /provider-credentials/test (it calls no AWS API); all of it but
// the wiring lives in shared/.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/routes"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := routes.New(context.Background(), routes.TestCredential, os.Getenv, app.Clients{})
	if err != nil {
		slog.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}
