package dynamo

import (
	"fmt"
	"strings"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
)

// Item layout of the credentials table:
//
//	pk = organisation id
//	sk = "CRED#<credential id>"               the credential
//	sk = "UNIQ#<provider>#<account key>"      the guard that makes (provider, account key) unique
//
// Providers never contain '#', so the guard key is unambiguous.
const (
	credPrefix  = "CRED#"
	guardPrefix = "UNIQ#"
	kindCred    = "credential"
	kindGuard   = "guard"
)

func credSK(id string) string                    { return credPrefix + id }
func guardSK(provider, accountKey string) string { return guardPrefix + provider + "#" + accountKey }

// record is a credential as stored. The key itself is never here.
type record struct {
	PK             string  `dynamodbav:"pk"`
	SK             string  `dynamodbav:"sk"`
	Kind           string  `dynamodbav:"kind"`
	ID             string  `dynamodbav:"id"`
	OrgID          string  `dynamodbav:"org_id"`
	Provider       string  `dynamodbav:"provider"`
	AccountKey     string  `dynamodbav:"account_key"`
	DisplayName    string  `dynamodbav:"display_name"`
	APIKeyLastFour *string `dynamodbav:"api_key_last_four,omitempty"`
	HasAPIKey      bool    `dynamodbav:"has_api_key"`
	BaseURL        *string `dynamodbav:"base_url,omitempty"`
	Active         bool    `dynamodbav:"active"`
	CreatedAt      string  `dynamodbav:"created_at"`
	UpdatedAt      string  `dynamodbav:"updated_at"`
	SecretName     string  `dynamodbav:"secret_name,omitempty"`
	KeyVersion     string  `dynamodbav:"key_version,omitempty"`
	Revision       int64   `dynamodbav:"revision"`
}

type guardRecord struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Kind         string `dynamodbav:"kind"`
	CredentialID string `dynamodbav:"credential_id"`
}

func toRecord(c credentials.Credential) record {
	return record{
		PK: c.OrgID, SK: credSK(c.ID), Kind: kindCred, ID: c.ID, OrgID: c.OrgID,
		Provider: c.Provider, AccountKey: c.AccountKey, DisplayName: c.DisplayName,
		APIKeyLastFour: c.APIKeyLastFour, HasAPIKey: c.HasAPIKey, BaseURL: c.BaseURL,
		Active: c.Active, CreatedAt: credentials.FormatTime(c.CreatedAt),
		UpdatedAt: credentials.FormatTime(c.UpdatedAt), SecretName: c.SecretName,
		KeyVersion: c.KeyVersion, Revision: c.Revision,
	}
}

func (r record) credential() (credentials.Credential, error) {
	if r.Kind != kindCred || !strings.HasPrefix(r.SK, credPrefix) {
		return credentials.Credential{}, fmt.Errorf("dynamo: item %s/%s is not a credential", r.PK, r.SK)
	}
	created, err := time.Parse(time.RFC3339Nano, r.CreatedAt)
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: credential %s: created_at: %w", r.ID, err)
	}
	updated, err := time.Parse(time.RFC3339Nano, r.UpdatedAt)
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: credential %s: updated_at: %w", r.ID, err)
	}
	return credentials.Credential{
		ID: r.ID, OrgID: r.OrgID, Provider: r.Provider, AccountKey: r.AccountKey,
		DisplayName: r.DisplayName, APIKeyLastFour: r.APIKeyLastFour, HasAPIKey: r.HasAPIKey,
		BaseURL: r.BaseURL, Active: r.Active, CreatedAt: created, UpdatedAt: updated,
		SecretName: r.SecretName, KeyVersion: r.KeyVersion, Revision: r.Revision,
	}, nil
}
