package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
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

// credentialDeps are the dependencies of the credential routes; writers
// also get the key store.
func (b *Builder) credentialDeps(withKeys bool) (httpapi.Deps, error) {
	svc, err := b.service(withKeys)
	if err != nil {
		return httpapi.Deps{}, err
	}
	return httpapi.Deps{Service: svc, Auth: b.Config.Auth, Log: b.Log}, nil
}

func (b *Builder) readDeps() (httpapi.Deps, error)  { return b.credentialDeps(false) }
func (b *Builder) writeDeps() (httpapi.Deps, error) { return b.credentialDeps(true) }

// usageDeps add the live usage service to the read dependencies.
func (b *Builder) usageDeps() (httpapi.Deps, error) {
	d, err := b.credentialDeps(false)
	if err != nil {
		return httpapi.Deps{}, err
	}
	if d.Usage, err = b.LiveUsage(); err != nil {
		return httpapi.Deps{}, err
	}
	return d, nil
}

// Function is one HTTP Lambda function: the folder under functions/
// (template.yaml's CodeUri), its handler, the dependencies it is built
// with and the AWS clients it calls. Each main.go names its own, so its
// binary links only the code that function runs.
type Function struct {
	Name            string
	dynamo, secrets bool
	deps            func(*Builder) (httpapi.Deps, error)
	handler         func(httpapi.Deps) http.Handler
}

// The HTTP functions.
var (
	ListCredentials  = Function{"list-credentials", true, false, (*Builder).readDeps, httpapi.ListCredentials}
	CreateCredential = Function{"create-credential", true, true, (*Builder).writeDeps, httpapi.CreateCredential}
	GetCredential    = Function{"get-credential", true, false, (*Builder).readDeps, httpapi.GetCredential}
	UpdateCredential = Function{"update-credential", true, true, (*Builder).writeDeps, httpapi.UpdateCredential}
	DeleteCredential = Function{"delete-credential", true, true, (*Builder).writeDeps, httpapi.DeleteCredential}
	GetUsage         = Function{"get-usage", true, true, (*Builder).usageDeps, httpapi.GetUsage}
	TestCredential   = Function{"test-credential", false, false, (*Builder).usageDeps, httpapi.TestCredential}
)

// Functions returns every HTTP function by name, for the local server,
// tools and tests. (A function, not a package-level map: a map would be
// built at init and link every handler into every binary.)
func Functions() map[string]Function {
	m := map[string]Function{}
	for _, f := range []Function{ListCredentials, CreateCredential, GetCredential, UpdateCredential, DeleteCredential, GetUsage, TestCredential} {
		m[f.Name] = f
	}
	return m
}

// Build builds f's handler, checking first that the clients it calls are there.
func (b *Builder) Build(f Function) (http.Handler, error) {
	if f.dynamo && b.Clients.DynamoDB == nil {
		return nil, fmt.Errorf("app: function %s needs a DynamoDB client", f.Name)
	}
	if f.secrets && b.Clients.SecretsManager == nil {
		return nil, fmt.Errorf("app: function %s needs a Secrets Manager client", f.Name)
	}
	d, err := f.deps(b)
	if err != nil {
		return nil, err
	}
	return f.handler(d), nil
}

// Handler builds the handler of the function in folder functions/<name>.
func (b *Builder) Handler(name string) (http.Handler, error) {
	f, ok := Functions()[name]
	if !ok {
		return nil, fmt.Errorf("app: no function %q", name)
	}
	return b.Build(f)
}

// New builds one function's handler from the environment and the clients
// it calls: what each functions/<name>/main.go does at cold start.
func New(ctx context.Context, f Function, getenv Env, clients Clients) (http.Handler, error) {
	b, err := NewBuilder(ctx, getenv, clients)
	if err != nil {
		return nil, err
	}
	return b.Build(f)
}
