package bench

// Prices are the AWS list prices the cost table uses: us-east-1, on
// demand, no free tier, as of November 2024 (DynamoDB's on-demand price
// cut of 1 November 2024), from the services' pricing pages
// (aws.amazon.com/lambda/pricing, /dynamodb/pricing/on-demand,
// /secrets-manager/pricing, /api-gateway/pricing, /cloudwatch/pricing,
// /eventbridge/pricing). Check them before quoting a figure: prices move.
var Prices = struct {
	AsOf, Source string

	LambdaGBSecondARM  float64 // $ per GB-second, arm64
	LambdaRequest      float64 // $ per invocation
	DynamoWRU          float64 // $ per write request unit (on demand)
	DynamoRRU          float64 // $ per read request unit (on demand)
	DynamoStorageGB    float64 // $ per GB-month, Standard table class
	DynamoPITRGB       float64 // $ per GB-month of continuous backups
	SecretMonth        float64 // $ per secret per month
	SecretsAPICall     float64 // $ per Secrets Manager API call
	HTTPAPIRequest     float64 // $ per API Gateway HTTP API request (first 300 M a month)
	LogsIngestGB       float64 // $ per GB of CloudWatch Logs ingested (standard class)
	CustomMetricMonth  float64 // $ per CloudWatch custom metric per month (first 10,000)
	EventBridgeCustom  float64 // $ per custom event published to a bus
	EventBridgeSchedul float64 // $ per scheduled-rule event (rules on the default bus: free)
	StreamsReadLambda  float64 // $ per DynamoDB Streams read request by a Lambda trigger (free)
}{
	AsOf:   "November 2024",
	Source: "AWS pricing pages, us-east-1 list prices, on demand, free tier not deducted",

	LambdaGBSecondARM:  0.0000133334,
	LambdaRequest:      0.20 / 1e6,
	DynamoWRU:          0.625 / 1e6,
	DynamoRRU:          0.125 / 1e6,
	DynamoStorageGB:    0.25,
	DynamoPITRGB:       0.20,
	SecretMonth:        0.40,
	SecretsAPICall:     0.05 / 10_000,
	HTTPAPIRequest:     1.00 / 1e6,
	LogsIngestGB:       0.50,
	CustomMetricMonth:  0.30,
	EventBridgeCustom:  1.00 / 1e6,
	EventBridgeSchedul: 0,
	StreamsReadLambda:  0,
}
