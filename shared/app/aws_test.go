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

// sam local invoke can override only declared variables: the template
// declares LOCAL_AWS_ENDPOINT_URL empty, events/env.local.json sets it.
func TestAWSConfigLocalEndpoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"local endpoint", map[string]string{"LOCAL_AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "http://127.0.0.1:5000"},
		{"AWS_ENDPOINT_URL wins", map[string]string{"AWS_ENDPOINT_URL": "http://a:1", "LOCAL_AWS_ENDPOINT_URL": "http://b:2"}, "http://a:1"},
		{"declared empty, as in AWS", map[string]string{"LOCAL_AWS_ENDPOINT_URL": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := AWSConfig(env(tt.env), 0)
			got := ""
			if cfg.BaseEndpoint != nil {
				got = *cfg.BaseEndpoint
			}
			if got != tt.want {
				t.Errorf("endpoint = %q, want %q", got, tt.want)
			}
		})
	}
}
