package rie

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/secrets"
)

// The data the files in events/ refer to: their claims name FixtureOrg,
// and their paths FixtureKeyed (a credential with a key) or FixtureKeyless
// (one without). Seed stores them.
const (
	FixtureOrg     = "org-demo"
	FixtureKeyed   = "3f6c2a9e-8b1d-4c7a-9e2f-5d4b3a2c1e0f"
	FixtureKeyless = "7a1e4b2c-5d3f-4e6a-8b9c-0d1e2f3a4b5c"
	fixtureAPIKey  = "sk-fixture-not-a-real-key-wxyz"
)

// DefaultStackName is the stack name FunctionEnv resolves by default.
const DefaultStackName = "provider-credentials"

// Seed stores the fixture credentials in the credentials table, and the
// keyed one's key under secretPrefix (the functions' SECRET_PREFIX),
// tagged with stack (their STACK_NAME).
func Seed(ctx context.Context, db dynamo.API, sm secrets.API, credTable, usageTable, secretPrefix, stack string) error {
	keys, err := secrets.New(sm, secretPrefix, 7)
	if err != nil {
		return fmt.Errorf("rie: seed: %w", err)
	}
	keys = keys.WithStack(stack)
	store := dynamo.New(db, credTable, usageTable)
	at := time.Date(2026, 5, 20, 22, 3, 57, 123456000, time.UTC)
	last4 := fixtureAPIKey[len(fixtureAPIKey)-4:]
	keyed := credentials.Credential{
		ID: FixtureKeyed, OrgID: FixtureOrg, Provider: "openai", AccountKey: "default",
		DisplayName: "default", Active: true, CreatedAt: at, UpdatedAt: at, Revision: 1,
		HasAPIKey: true, APIKeyLastFour: &last4, SecretName: keys.Name(FixtureOrg, FixtureKeyed),
	}
	version, err := keys.Create(ctx, credentials.SecretRef{
		Name: keyed.SecretName, OrgID: FixtureOrg, CredentialID: FixtureKeyed, Provider: keyed.Provider,
	}, fixtureAPIKey)
	if err != nil {
		return fmt.Errorf("rie: seed: %w", err)
	}
	keyed.KeyVersion = version
	keyless := credentials.Credential{
		ID: FixtureKeyless, OrgID: FixtureOrg, Provider: "anthropic", AccountKey: "no-key",
		DisplayName: "no key yet", Active: true, CreatedAt: at, UpdatedAt: at, Revision: 1,
	}
	for _, c := range []credentials.Credential{keyed, keyless} {
		if err := store.Create(ctx, c); err != nil {
			return fmt.Errorf("rie: seed %s: %w", c.ID, err)
		}
	}
	return nil
}

// FunctionEnv resolves a template function's environment variables as SAM
// does: parameter defaults (overridden by params, which may also set
// "AWS::StackName", default DefaultStackName), and tables (logical id →
// physical name) for !Ref and !GetAtt .Arn.
func FunctionEnv(tpl *samtemplate.Template, fn samtemplate.Function, params, tables map[string]string) (map[string]string, error) {
	refs := tpl.ParameterValues(params)
	refs["AWS::Region"], refs["AWS::AccountId"], refs["AWS::Partition"] = "us-east-1", "123456789012", "aws"
	refs["AWS::URLSuffix"] = "amazonaws.com"
	if _, ok := params["AWS::StackName"]; !ok {
		refs["AWS::StackName"] = DefaultStackName
	}
	for logical, name := range tables {
		refs[logical] = name
		refs[logical+".Arn"] = "arn:aws:dynamodb:us-east-1:123456789012:table/" + name
	}
	return fn.ResolveEnvironment(refs)
}
