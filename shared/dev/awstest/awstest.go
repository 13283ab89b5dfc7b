// Package awstest runs integration tests against a real AWS emulator
// (moto_server) through the real AWS SDK: it starts the emulator once per
// test binary, creates uniquely named tables from template.yaml for each
// test, and counts (or fails, on purpose) every AWS call.
package awstest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/acme/provider-credentials/shared/awscalls"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/moto"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/dynamo"
)

// Main runs the tests of a package that needs AWS. Without
// AWS_ENDPOINT_URL it starts moto_server for the run; when moto_server is
// missing it says so and skips, except under CI, where that is a failure.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
	} {
		if os.Getenv(k) == "" {
			if err := os.Setenv(k, v); err != nil {
				fmt.Fprintln(os.Stderr, "awstest:", err)
				return 1
			}
		}
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		srv, err := moto.Start(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, "awstest:", err)
			if os.Getenv("CI") != "" {
				return 1
			}
			fmt.Fprintln(os.Stderr, "awstest: skipping the AWS integration tests")
			return 0
		}
		defer srv.Stop()
		if err := os.Setenv("AWS_ENDPOINT_URL", srv.URL); err != nil {
			fmt.Fprintln(os.Stderr, "awstest:", err)
			return 1
		}
	}
	return m.Run()
}

// RepoRoot returns the folder holding go.mod.
func RepoRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("awstest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

var (
	templateOnce sync.Once
	templ        *samtemplate.Template
	templateErr  error
)

// Template returns the parsed template.yaml of the repository.
func Template() (*samtemplate.Template, error) {
	templateOnce.Do(func() { templ, templateErr = samtemplate.Load(filepath.Join(RepoRoot(), "template.yaml")) })
	return templ, templateErr
}

// Env is one test's AWS world: its own tables and secret prefix.
type Env struct {
	DDB          *dynamodb.Client
	SM           *secretsmanager.Client
	Calls        *Calls
	CredTable    string
	UsageTable   string
	SecretPrefix string
	StackName    string // the STACK_NAME the functions see: their secrets' tag
	vars         map[string]string
}

// New creates the tables of template.yaml under names unique to t.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	calls := &Calls{}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions([]func(*middleware.Stack) error{calls.apiOptions(), awscalls.APIOption}))
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	suffix := strings.ToLower(credentials.NewID()[:8])
	e := &Env{
		DDB: dynamodb.NewFromConfig(cfg), SM: secretsmanager.NewFromConfig(cfg), Calls: calls,
		CredTable: "creds-" + suffix, UsageTable: "usage-" + suffix, SecretPrefix: "test-" + suffix,
		StackName: "stack-" + suffix,
	}
	tpl, err := Template()
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	for logical, name := range map[string]string{"CredentialsTable": e.CredTable, "UsageTable": e.UsageTable} {
		res, ok := tpl.Resources[logical]
		if !ok {
			t.Fatalf("template.yaml has no %s", logical)
		}
		if err := dynamo.CreateTable(ctx, e.DDB, name, res.Properties); err != nil {
			t.Fatalf("create table: %v", err)
		}
	}
	e.vars = map[string]string{
		"CREDENTIALS_TABLE": e.CredTable, "USAGE_TABLE": e.UsageTable, "SECRET_PREFIX": e.SecretPrefix,
		"STACK_NAME":                   e.StackName,
		"PROBE_ALLOW_PRIVATE_NETWORKS": "1",
	}
	calls.Reset()
	return e
}

// Set overrides one environment variable of the functions built by Getenv.
func (e *Env) Set(name, value string) { e.vars[name] = value }

// Getenv is the environment the functions under test see.
func (e *Env) Getenv(name string) string {
	if v, ok := e.vars[name]; ok {
		return v
	}
	return os.Getenv(name)
}

// Endpoint returns the emulator's URL.
func Endpoint() string { return os.Getenv("AWS_ENDPOINT_URL") }
