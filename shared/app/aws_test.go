package app

import (
	"context"
	"testing"
)

func TestAWSConfigFromLambdaEnvironment(t *testing.T) {
	cfg := AWSConfig(env(map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "token", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
	}), 8)
	if cfg.Region != "eu-west-1" || cfg.RetryMaxAttempts != 8 || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://127.0.0.1:5000" {
		t.Fatalf("config = region %q, attempts %d, endpoint %v", cfg.Region, cfg.RetryMaxAttempts, cfg.BaseEndpoint)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKIDEXAMPLE" || creds.SessionToken != "token" {
		t.Fatalf("credentials = %v, %v", creds.AccessKeyID, err)
	}
	cfg = AWSConfig(env(map[string]string{"AWS_DEFAULT_REGION": "us-west-2"}), 0)
	if cfg.Region != "us-west-2" || cfg.BaseEndpoint != nil || cfg.Credentials != nil {
		t.Fatalf("bare config = %+v", cfg)
	}
}
