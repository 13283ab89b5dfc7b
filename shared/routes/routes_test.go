package routes_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/routes"
)

func TestEveryFunctionBuilds(t *testing.T) {
	cfg := app.Config{CredentialsTable: "c", UsageTable: "u", SecretPrefix: "p", RecoveryDays: 7, StackName: "s"}
	b := &app.Builder{Config: cfg, Clients: app.Clients{DynamoDB: dynamodb.New(dynamodb.Options{}), SecretsManager: secretsmanager.New(secretsmanager.Options{})}}
	for name := range routes.All() {
		if h, err := routes.Handler(b, name); err != nil || h == nil {
			t.Errorf("Handler(%q) = %v, %v", name, h, err)
		}
	}
	// A function missing a client it calls fails at cold start, not at its first request.
	bare := &app.Builder{Config: cfg}
	for name, want := range map[string]bool{"list-credentials": false, "get-usage": false, "test-credential": true} {
		if _, err := routes.Handler(bare, name); (err == nil) != want {
			t.Errorf("Handler(%q) without clients: err = %v, want error %v", name, err, !want)
		}
	}
	// A function that writes keys refuses to start without the stack its secrets are tagged with.
	noStack := &app.Builder{Config: cfg, Clients: b.Clients}
	noStack.Config.StackName = ""
	for _, name := range []string{"create-credential", "update-credential", "delete-credential", "rollback-credential"} {
		if _, err := routes.Handler(noStack, name); err == nil {
			t.Errorf("Handler(%q) without STACK_NAME: want an error", name)
		}
	}
	if _, err := routes.Handler(b, "nope"); err == nil {
		t.Error("Handler(nope): want an error")
	}
}
