package localapi

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/awscalls"
	"github.com/acme/provider-credentials/shared/dev/localaws"
	"github.com/acme/provider-credentials/shared/dev/moto"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/dynamo"
)

// Stack is the AWS side of a local run: the emulator (when this process
// started one) and the tables of template.yaml.
type Stack struct {
	Endpoint string
	Tables   map[string]string // logical id → table name
	moto     *moto.Server
}

// tableEnv maps the template's table resources to the environment
// variables the functions read (the same as template.yaml's Globals).
var tableEnv = map[string]string{"CredentialsTable": "CREDENTIALS_TABLE", "UsageTable": "USAGE_TABLE"}

// StartStack points the process at AWS_ENDPOINT_URL, or starts moto_server
// when it is unset, and creates every table of the template (named by
// CREDENTIALS_TABLE / USAGE_TABLE, default "local-<LogicalId>"). It sets
// the environment variables the functions read.
func StartStack(ctx context.Context, tpl *samtemplate.Template) (*Stack, error) {
	s := &Stack{Tables: map[string]string{}}
	// STACK_NAME: the tag of the secrets make run creates (the template
	// sets it from the stack's name).
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "STACK_NAME": "local"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		srv, err := moto.Start(ctx)
		if err != nil {
			return nil, err
		}
		s.moto = srv
		// moto checks no signature; any credentials do.
		for k, v := range map[string]string{
			"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": localaws.DummyAccessKey, "AWS_SECRET_ACCESS_KEY": localaws.DummyAccessKey,
		} {
			if err := os.Setenv(k, v); err != nil {
				s.Stop()
				return nil, fmt.Errorf("localapi: %w", err)
			}
		}
	}
	// The region, and dummy credentials for a loopback AWS_ENDPOINT_URL
	// (one `make run` printed) when none are set.
	if _, err := localaws.Apply(); err != nil {
		s.Stop()
		return nil, err
	}
	s.Endpoint = os.Getenv("AWS_ENDPOINT_URL")
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("localapi: AWS configuration: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	for _, logical := range tpl.ResourcesOfType("AWS::DynamoDB::Table") {
		name := DefaultTableName(logical)
		if env, ok := tableEnv[logical]; ok {
			if v := os.Getenv(env); v != "" {
				name = v
			}
			if err := os.Setenv(env, name); err != nil {
				s.Stop()
				return nil, fmt.Errorf("localapi: %w", err)
			}
		}
		if err := dynamo.CreateTable(ctx, db, name, tpl.Resources[logical].Properties); err != nil {
			s.Stop()
			return nil, err
		}
		s.Tables[logical] = name
	}
	return s, nil
}

// DefaultTableName is the name StartStack gives the table of a logical id
// when its variable (CREDENTIALS_TABLE, USAGE_TABLE) is unset.
func DefaultTableName(logical string) string { return "local-" + logical }

// Stop ends the emulator if this process started it.
func (s *Stack) Stop() {
	if s != nil && s.moto != nil {
		s.moto.Stop()
	}
}

// Clients builds DynamoDB and Secrets Manager clients from the default
// configuration chain (profiles, SSO, AWS_ENDPOINT_URL: what a developer's
// machine may need), retrying up to maxAttempts (0: the SDK's default).
func Clients(ctx context.Context, maxAttempts int) (app.Clients, error) {
	if _, err := localaws.Apply(); err != nil {
		return app.Clients{}, err
	}
	// Count each request's AWS calls for its access line, as app.AWSConfig does in Lambda.
	opts := []func(*config.LoadOptions) error{config.WithAPIOptions([]func(*middleware.Stack) error{awscalls.APIOption})}
	if maxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(maxAttempts))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return app.Clients{}, fmt.Errorf("localapi: AWS configuration: %w", err)
	}
	return app.Clients{DynamoDB: dynamodb.NewFromConfig(cfg), SecretsManager: secretsmanager.NewFromConfig(cfg)}, nil
}

// Local is what a local tool runs on: the template, the AWS side and a
// builder over clients from the default configuration chain.
type Local struct {
	Template *samtemplate.Template
	Stack    *Stack
	Builder  *app.Builder
}

// Start loads template.yaml from the working directory, starts the AWS
// side (StartStack) and builds the clients (8 attempts, so a busy emulator
// is retried) and the builder. Stop it when done.
func Start(ctx context.Context) (*Local, error) {
	tpl, err := samtemplate.Load("template.yaml")
	if err != nil {
		return nil, err
	}
	stack, err := StartStack(ctx, tpl)
	if err != nil {
		return nil, err
	}
	l := &Local{Template: tpl, Stack: stack}
	clients, err := Clients(ctx, 8)
	if err == nil {
		l.Builder, err = app.NewBuilder(ctx, os.Getenv, clients)
	}
	if err != nil {
		stack.Stop()
		return nil, err
	}
	return l, nil
}

// Stop ends what Start started.
func (l *Local) Stop() { l.Stack.Stop() }
