// Command config is adapter plus the SDK's default configuration loader
// (which links every credential provider: SSO, STS, sign-in, IMDS...).
package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

func main() {
	if _, err := config.LoadDefaultConfig(context.Background()); err != nil {
		panic(err)
	}
	lambda.Start(httpadapter.NewV2(http.NotFoundHandler()).ProxyWithContext)
}
