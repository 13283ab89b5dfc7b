// Command adapter is the smallest HTTP API function: the Lambda runtime and
// the api-proxy adapter around a handler, no AWS SDK. BenchmarkBinarySize
// builds it to show what the SDK adds to each function.
package main

import (
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

func main() { lambda.Start(httpadapter.NewV2(http.NotFoundHandler()).ProxyWithContext) }
