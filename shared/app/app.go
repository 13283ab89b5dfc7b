package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/secrets"
	"github.com/acme/provider-credentials/shared/usage"
)

// Env is how configuration is read: os.Getenv, or a map lookup in tests.
type Env func(string) string

// Clients are the AWS clients a function may use. A nil field is a
// function that makes no such call; tests pass their own, wrapped to count
// calls or inject faults.
type Clients struct {
	DynamoDB       dynamo.API
	SecretsManager secrets.API
}

// Builder builds services from one configuration and one set of clients.
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

// Store returns the DynamoDB adapter over both tables.
func (b *Builder) Store() *dynamo.Store {
	return dynamo.New(b.Clients.DynamoDB, b.Config.CredentialsTable, b.Config.UsageTable)
}

// KeyStore returns the Secrets Manager adapter, tagging and listing the
// secrets of this deployment's stack (STACK_NAME; without it, keys can be
// read and changed but no secret created or listed), and creating secrets
// with the configured KMS key (SECRET_KMS_KEY_ID) when there is one.
func (b *Builder) KeyStore() (*secrets.Store, error) {
	ks, err := secrets.New(b.Clients.SecretsManager, b.Config.SecretPrefix, b.Config.RecoveryDays)
	if err != nil {
		return nil, err
	}
	return ks.WithStack(b.Config.StackName).WithKMSKey(b.Config.SecretKMSKey), nil
}

// Service builds the credential service; withKeys adds the key store
// (the writers' functions).
func (b *Builder) Service(withKeys bool) (*credentials.Service, error) {
	opts := credentials.Options{Log: b.Log, BaseURLCheck: b.baseURLCheck()}
	if withKeys {
		ks, err := b.writerKeyStore()
		if err != nil {
			return nil, err
		}
		opts.Keys = ks
	}
	return credentials.NewService(b.Store(), opts), nil
}

// writerKeyStore is the key store of a function that writes keys: it
// needs the stack its secrets are tagged with.
func (b *Builder) writerKeyStore() (*secrets.Store, error) {
	if b.Config.StackName == "" {
		return nil, errors.New("app: STACK_NAME is not set: every secret is tagged with its stack")
	}
	ks, err := b.KeyStore()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return ks, nil
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
	ks, err := b.KeyStore()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	keys := secrets.NewKeyCache(ks, 15*time.Minute, 1024)
	return liveusage.New(b.Store(), keys, b.Prober(), liveusage.Options{
		Fresh: b.Config.UsageFresh, ScheduledFresh: b.Config.ScheduledFresh, Log: b.Log,
		QuotaLowPercent: float64(b.Config.QuotaLowPercent), KeyMaxAge: b.Config.KeyMaxAge,
	}), nil
}

// VerifyingService is the writers' credential service that also serves
// ?verify=true: its verifier probes with the configured prober and stores
// an accepted probe's result in the usage cache.
func (b *Builder) VerifyingService() (*credentials.Service, error) {
	ks, err := b.writerKeyStore()
	if err != nil {
		return nil, err
	}
	v := liveusage.New(b.Store(), ks, b.Prober(), liveusage.Options{Fresh: b.Config.UsageFresh, Log: b.Log})
	return credentials.NewService(b.Store(), credentials.Options{
		Keys: ks, Log: b.Log, BaseURLCheck: b.baseURLCheck(), Verifier: v,
	}), nil
}
