package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/awscalls"
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

// A client built from AWSConfig counts each operation once and each
// attempt it sends, retries included, into the request's counter.
func TestAWSConfigCountsCalls(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError) // retried by the SDK
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	cfg := AWSConfig(env(map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_ENDPOINT_URL": srv.URL,
	}), 3)
	db := dynamodb.NewFromConfig(cfg)
	ctx, c := awscalls.WithCounter(context.Background())
	in := &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}}}
	if _, err := db.GetItem(ctx, in); err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if _, err := db.GetItem(ctx, in); err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if c.Operations() != 2 || c.Attempts() != 3 {
		t.Errorf("counted %d operations, %d attempts; want 2 operations, 3 attempts (one retried)", c.Operations(), c.Attempts())
	}
	// Without a counter in the context nothing is counted, and nothing fails.
	if _, err := db.GetItem(context.Background(), in); err != nil {
		t.Fatalf("GetItem without a counter: %v", err)
	}
	if c.Operations() != 2 {
		t.Errorf("a call without the counter in its context counted: %d operations", c.Operations())
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
