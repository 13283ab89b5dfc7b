package changefeed

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AWSConfig is the publisher's AWS configuration from the environment
// Lambda gives it, as app.AWSConfig reads it (region, the role's keys,
// AWS_ENDPOINT_URL for an emulator), kept here so that the publisher links
// nothing of the request path.
func AWSConfig(getenv func(string) string) aws.Config {
	cfg := aws.Config{Region: getenv("AWS_REGION")}
	if cfg.Region == "" {
		cfg.Region = getenv("AWS_DEFAULT_REGION")
	}
	if id := getenv("AWS_ACCESS_KEY_ID"); id != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			id, getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")))
	}
	if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = &ep
	}
	return cfg
}
