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
	PK, SK, Kind, ID, OrgID string
	Provider, AccountKey    string
	DisplayName             string
	APIKeyLastFour          *string
	HasAPIKey               bool
	BaseURL                 *string
	Active                  bool
	CreatedAt, UpdatedAt    string
	CreatedBy, UpdatedBy    string
	SecretName, KeyVersion  string
	Revision                int64

	// --- health (issue 13), attributes in health.go ---
	Health credentials.Health
	// --- end health ---
	// Key history (shared/credentials/rollback.go): when the current key
	// was set, and the key a rollback restores. Absent on items written
	// before they were recorded.
	KeyUpdatedAt       *string
	PrevKeyVersion     string
	PrevAPIKeyLastFour *string
	PrevKeyUpdatedAt   *string
}

// item is the record as DynamoDB attributes; absent optional fields are
// left out.
func (r record) item() item {
	it := item{
		"pk": sAttr(r.PK), "sk": sAttr(r.SK), "kind": sAttr(r.Kind), "id": sAttr(r.ID), "org_id": sAttr(r.OrgID),
		"provider": sAttr(r.Provider), "account_key": sAttr(r.AccountKey), "display_name": sAttr(r.DisplayName),
		"has_api_key": bAttr(r.HasAPIKey), "active": bAttr(r.Active),
		"created_at": sAttr(r.CreatedAt), "updated_at": sAttr(r.UpdatedAt), "revision": nAttr(r.Revision),
	}
	if r.APIKeyLastFour != nil {
		it["api_key_last_four"] = sAttr(*r.APIKeyLastFour)
	}
	if r.BaseURL != nil {
		it["base_url"] = sAttr(*r.BaseURL)
	}
	if r.CreatedBy != "" {
		it["created_by"] = sAttr(r.CreatedBy)
	}
	if r.UpdatedBy != "" {
		it["updated_by"] = sAttr(r.UpdatedBy)
	}
	if r.SecretName != "" {
		it["secret_name"] = sAttr(r.SecretName)
	}
	if r.KeyVersion != "" {
		it["key_version"] = sAttr(r.KeyVersion)
	}
	addHealth(it, r.Health) // health (issue 13)
	if r.KeyUpdatedAt != nil {
		it["api_key_updated_at"] = sAttr(*r.KeyUpdatedAt)
	}
	if r.PrevKeyVersion != "" {
		it["prev_key_version"] = sAttr(r.PrevKeyVersion)
	}
	if r.PrevAPIKeyLastFour != nil {
		it["prev_api_key_last_four"] = sAttr(*r.PrevAPIKeyLastFour)
	}
	if r.PrevKeyUpdatedAt != nil {
		it["prev_key_updated_at"] = sAttr(*r.PrevKeyUpdatedAt)
	}
	return it
}

func readRecord(it item) (record, error) {
	rd := reader{it: it}
	r := record{
		PK: rd.str("pk"), SK: rd.str("sk"), Kind: rd.str("kind"), ID: rd.str("id"), OrgID: rd.str("org_id"),
		Provider: rd.str("provider"), AccountKey: rd.str("account_key"), DisplayName: rd.str("display_name"),
		APIKeyLastFour: rd.optStr("api_key_last_four"), HasAPIKey: rd.boolean("has_api_key"),
		BaseURL: rd.optStr("base_url"), Active: rd.boolean("active"),
		CreatedAt: rd.str("created_at"), UpdatedAt: rd.str("updated_at"),
		CreatedBy: rd.strOr("created_by"), UpdatedBy: rd.strOr("updated_by"),
		SecretName: rd.strOr("secret_name"), KeyVersion: rd.strOr("key_version"), Revision: rd.num("revision"),
		KeyUpdatedAt: rd.optStr("api_key_updated_at"), PrevKeyVersion: rd.strOr("prev_key_version"),
		PrevAPIKeyLastFour: rd.optStr("prev_api_key_last_four"), PrevKeyUpdatedAt: rd.optStr("prev_key_updated_at"),
	}
	r.Health = readHealth(it) // health (issue 13)
	return r, rd.err
}

// guardItem is the uniqueness guard of (provider, account key) in an org.
func guardItem(orgID, provider, accountKey, credentialID string) item {
	return item{"pk": sAttr(orgID), "sk": sAttr(guardSK(provider, accountKey)), "kind": sAttr(kindGuard), "credential_id": sAttr(credentialID)}
}

func toRecord(c credentials.Credential) record {
	return record{
		PK: c.OrgID, SK: credSK(c.ID), Kind: kindCred, ID: c.ID, OrgID: c.OrgID,
		Provider: c.Provider, AccountKey: c.AccountKey, DisplayName: c.DisplayName,
		APIKeyLastFour: c.APIKeyLastFour, HasAPIKey: c.HasAPIKey, BaseURL: c.BaseURL,
		Active: c.Active, CreatedAt: credentials.FormatTime(c.CreatedAt),
		UpdatedAt: credentials.FormatTime(c.UpdatedAt), CreatedBy: c.CreatedBy, UpdatedBy: c.UpdatedBy,
		SecretName: c.SecretName, KeyVersion: c.KeyVersion, Revision: c.Revision,
		KeyUpdatedAt: optTime(c.KeyUpdatedAt), PrevKeyVersion: c.PrevKeyVersion,
		PrevAPIKeyLastFour: c.PrevAPIKeyLastFour, PrevKeyUpdatedAt: optTime(c.PrevKeyUpdatedAt),
		Health: c.Health, // health (issue 13)
	}
}

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := credentials.FormatTime(*t)
	return &s
}

func parseOptTime(id, name string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, fmt.Errorf("dynamo: credential %s: %s: %w", id, name, err)
	}
	return &t, nil
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
	keyAt, err := parseOptTime(r.ID, "api_key_updated_at", r.KeyUpdatedAt)
	if err != nil {
		return credentials.Credential{}, err
	}
	prevAt, err := parseOptTime(r.ID, "prev_key_updated_at", r.PrevKeyUpdatedAt)
	if err != nil {
		return credentials.Credential{}, err
	}
	return credentials.Credential{
		ID: r.ID, OrgID: r.OrgID, Provider: r.Provider, AccountKey: r.AccountKey,
		DisplayName: r.DisplayName, APIKeyLastFour: r.APIKeyLastFour, HasAPIKey: r.HasAPIKey,
		BaseURL: r.BaseURL, Active: r.Active, CreatedAt: created, UpdatedAt: updated,
		CreatedBy: r.CreatedBy, UpdatedBy: r.UpdatedBy, SecretName: r.SecretName, KeyVersion: r.KeyVersion, Revision: r.Revision,
		KeyUpdatedAt: keyAt, PrevKeyVersion: r.PrevKeyVersion, PrevAPIKeyLastFour: r.PrevAPIKeyLastFour,
		PrevKeyUpdatedAt: prevAt,
		Health:           r.Health, // health (issue 13)
	}, nil
}
