package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/httpapi"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/secrets"
	"github.com/acme/provider-credentials/shared/usage"
)

// Env is how configuration is read: os.Getenv, or a map lookup in tests.
type Env func(string) string

// Clients are the AWS clients a function may use. A nil field is built from
// the default configuration (which honours AWS_ENDPOINT_URL); tests pass
// their own, wrapped to count calls or inject faults.
type Clients struct {
	DynamoDB       dynamo.API
	SecretsManager secrets.API
}

// Builder builds handlers from one configuration and one set of clients.
type Builder struct {
	Config  Config
	Clients Clients
	Log     *slog.Logger
}

// NewBuilder reads the configuration; clients are the AWS clients the
// functions to be built need (a nil one is a function that makes no such
// call). Building them is the caller's: main.go builds only the ones its
// function uses, so the others are not linked into its binary.
func NewBuilder(ctx context.Context, getenv Env, clients Clients) (*Builder, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return &Builder{Config: cfg, Clients: clients, Log: slog.Default()}, nil
}

func (b *Builder) store() *dynamo.Store {
	return dynamo.New(b.Clients.DynamoDB, b.Config.CredentialsTable, b.Config.UsageTable)
}

func (b *Builder) keyStore() (*secrets.Store, error) {
	return secrets.New(b.Clients.SecretsManager, b.Config.SecretPrefix, b.Config.RecoveryDays)
}

// service builds the credential service; withKeys adds the key store.
func (b *Builder) service(withKeys bool) (*credentials.Service, error) {
	opts := []credentials.Option{credentials.WithLogger(b.Log), credentials.WithBaseURLCheck(b.baseURLCheck())}
	if withKeys {
		ks, err := b.keyStore()
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		opts = append(opts, credentials.WithKeyStore(ks))
	}
	return credentials.NewService(b.store(), opts...), nil
}

func (b *Builder) baseURLCheck() credentials.BaseURLCheck {
	return func(provider, raw string) error {
		return usage.ValidateBaseURL(provider, raw, b.Config.AllowPrivate)
	}
}

// Prober returns the provider prober configured from the environment.
func (b *Builder) Prober() *usage.Prober {
	return usage.NewProber(usage.Options{AllowPrivateNetworks: b.Config.AllowPrivate, Timeout: b.Config.ProbeTimeout})
}

// LiveUsage returns the usage service: cache, key reader and prober.
func (b *Builder) LiveUsage() (*liveusage.Service, error) {
	ks, err := b.keyStore()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	keys := secrets.NewKeyCache(ks, 15*time.Minute, 1024)
	return liveusage.New(b.store(), keys, b.Prober(), b.Config.UsageFresh, b.Log).WithScheduledFresh(b.Config.ScheduledFresh), nil
}

func (b *Builder) deps(withKeys, withUsage bool) (httpapi.Deps, error) {
	svc, err := b.service(withKeys)
	if err != nil {
		return httpapi.Deps{}, err
	}
	d := httpapi.Deps{Service: svc, Auth: b.Config.Auth, Log: b.Log}
	if withUsage {
		if d.Usage, err = b.LiveUsage(); err != nil {
			return httpapi.Deps{}, err
		}
	}
	return d, nil
}

// functions maps each folder under functions/ (template.yaml's CodeUri) to
// its handler, whether it writes keys or reads usage, and the AWS clients
// it calls.
var functions = map[string]struct {
	keys, usage     bool
	dynamo, secrets bool
	handler         func(httpapi.Deps) http.Handler
}{
	"list-credentials":  {false, false, true, false, httpapi.ListCredentials},
	"create-credential": {true, false, true, true, httpapi.CreateCredential},
	"get-credential":    {false, false, true, false, httpapi.GetCredential},
	"update-credential": {true, false, true, true, httpapi.UpdateCredential},
	"delete-credential": {true, false, true, true, httpapi.DeleteCredential},
	"get-usage":         {false, true, true, true, httpapi.GetUsage},
	"test-credential":   {false, true, false, false, httpapi.TestCredential},
}

// Functions returns the names of the HTTP functions, sorted.
func Functions() []string {
	return slices.Sorted(maps.Keys(functions))
}

// Handler builds the handler of the function in folder functions/<name>.
func (b *Builder) Handler(name string) (http.Handler, error) {
	f, ok := functions[name]
	if !ok {
		return nil, fmt.Errorf("app: no function %q", name)
	}
	if f.dynamo && b.Clients.DynamoDB == nil {
		return nil, fmt.Errorf("app: function %s needs a DynamoDB client", name)
	}
	if f.secrets && b.Clients.SecretsManager == nil {
		return nil, fmt.Errorf("app: function %s needs a Secrets Manager client", name)
	}
	d, err := b.deps(f.keys, f.usage)
	if err != nil {
		return nil, err
	}
	return f.handler(d), nil
}

// New builds the handler of one function from the environment and the
// clients it needs: what each functions/<name>/main.go calls at cold start.
func New(ctx context.Context, name string, getenv Env, clients Clients) (http.Handler, error) {
	b, err := NewBuilder(ctx, getenv, clients)
	if err != nil {
		return nil, err
	}
	return b.Handler(name)
}
