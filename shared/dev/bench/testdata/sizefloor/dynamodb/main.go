// Command dynamodb is config plus a DynamoDB client making one call.
package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	_, _ = db.GetItem(context.Background(), &dynamodb.GetItemInput{})
	lambda.Start(httpadapter.NewV2(http.NotFoundHandler()).ProxyWithContext)
}
