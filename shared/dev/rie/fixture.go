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
// (one without), or FixtureRotated (an inactive one whose key was rotated
// once, so it has a key to roll back to). Seed stores them.
const (
	FixtureOrg     = "org-demo"
	FixtureKeyed   = "3f6c2a9e-8b1d-4c7a-9e2f-5d4b3a2c1e0f"
	FixtureKeyless = "7a1e4b2c-5d3f-4e6a-8b9c-0d1e2f3a4b5c"
	FixtureRotated = "c4d5e6f7-1a2b-4c3d-8e9f-a0b1c2d3e4f5"
	fixtureAPIKey  = "sk-fixture-not-a-real-key-wxyz"
	fixtureOldKey  = "sk-fixture-not-a-real-old-key-abcd"
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
	rotated, err := seedRotated(ctx, keys, at)
	if err != nil {
		return err
	}
	for _, c := range []credentials.Credential{keyed, keyless, rotated} {
		if err := store.Create(ctx, c); err != nil {
			return fmt.Errorf("rie: seed %s: %w", c.ID, err)
		}
	}
	return nil
}

// seedRotated stores the rotated fixture's two key versions; inactive, so
// the scheduled refresh's events do not probe it.
func seedRotated(ctx context.Context, keys *secrets.Store, at time.Time) (credentials.Credential, error) {
	c := credentials.Credential{
		ID: FixtureRotated, OrgID: FixtureOrg, Provider: "openai", AccountKey: "rotated",
		DisplayName: "rotated once", Active: false, CreatedAt: at, UpdatedAt: at.Add(time.Hour), Revision: 2,
		HasAPIKey: true, SecretName: keys.Name(FixtureOrg, FixtureRotated),
	}
	old, err := keys.Create(ctx, credentials.SecretRef{
		Name: c.SecretName, OrgID: FixtureOrg, CredentialID: FixtureRotated, Provider: c.Provider,
	}, fixtureOldKey)
	if err != nil {
		return c, fmt.Errorf("rie: seed: %w", err)
	}
	cur, err := keys.Put(ctx, c.SecretName, fixtureAPIKey)
	if err != nil {
		return c, fmt.Errorf("rie: seed: %w", err)
	}
	last4, prev4, rotatedAt := fixtureAPIKey[len(fixtureAPIKey)-4:], fixtureOldKey[len(fixtureOldKey)-4:], c.UpdatedAt
	c.KeyVersion, c.APIKeyLastFour, c.KeyUpdatedAt = cur, &last4, &rotatedAt
	c.PrevKeyVersion, c.PrevAPIKeyLastFour, c.PrevKeyUpdatedAt = old, &prev4, &at
	return c, nil
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
