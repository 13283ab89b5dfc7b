// Command publish-events is the Lambda function that turns the credentials
// table's stream into EventBridge events; all of it but the wiring lives
// in shared/changefeed.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/acme/provider-credentials/shared/changefeed"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	// Only the EventBridge client (Lambda reads the stream itself), and not
	// shared/app, which would link the DynamoDB, Secrets Manager and probe
	// code this function never runs.
	client := eventbridge.NewFromConfig(changefeed.AWSConfig(os.Getenv)) // built once, at cold start
	p := changefeed.New(client, changefeed.LoadConfig(os.Getenv), slog.Default())
	lambda.Start(p.Handle)
}
