package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TimeLayout is how timestamps go on the wire: RFC 3339, UTC, microseconds,
// as the seed's Python isoformat did.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Credential is one organisation's credential for one provider account.
// The API key itself is not here: it lives in the key store, named by
// SecretName at KeyVersion.
type Credential struct {
	ID             string
	OrgID          string
	Provider       string
	AccountKey     string
	DisplayName    string
	APIKeyLastFour *string
	HasAPIKey      bool
	BaseURL        *string
	Active         bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	CreatedBy      string // subject (JWT sub) that created it; "" when unknown
	UpdatedBy      string // subject that made the last change; "" when unknown

	SecretName string // key store name; set while HasAPIKey
	KeyVersion string // key store version of the current key; set while HasAPIKey

	// KeyUpdatedAt is when the current key was set (nil: no key, or set
	// before this was recorded). The Prev fields name the key that was
	// current before the last rotation, readable as the secret's
	// AWSPREVIOUS version: what a rollback restores. Empty when there is
	// nothing to roll back to (no rotation yet, or the key was cleared).
	KeyUpdatedAt       *time.Time
	PrevKeyVersion     string
	PrevAPIKeyLastFour *string
	PrevKeyUpdatedAt   *time.Time

	Revision  int64  // bumped by every write; guards read-modify-write updates
	LockToken string // set by Store.Lock: this request holds the credential

	Health Health // the key's health as probes found it (health.go)
}

// view is the wire format, exactly the seed's ProviderCredentialRead.
type view struct {
	ID             string  `json:"id"`
	OrganizationID string  `json:"organization_id"`
	Provider       string  `json:"provider"`
	AccountKey     string  `json:"account_key"`
	DisplayName    string  `json:"display_name"`
	APIKeyLastFour *string `json:"api_key_last_four"`
	HasAPIKey      bool    `json:"has_api_key"`
	BaseURL        *string `json:"base_url"`
	Active         bool    `json:"active"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	CreatedBy      *string `json:"created_by"`
	UpdatedBy      *string `json:"updated_by"`

	Health       healthView `json:"health"` // additive (issue 13): health.go
	KeyUpdatedAt *string    `json:"api_key_updated_at"`
}

// MarshalJSON writes the public view: never the secret's name or version.
func (c Credential) MarshalJSON() ([]byte, error) {
	return json.Marshal(view{
		ID: c.ID, OrganizationID: c.OrgID, Provider: c.Provider, AccountKey: c.AccountKey,
		DisplayName: c.DisplayName, APIKeyLastFour: c.APIKeyLastFour, HasAPIKey: c.HasAPIKey,
		BaseURL: c.BaseURL, Active: c.Active,
		CreatedAt: FormatTime(c.CreatedAt), UpdatedAt: FormatTime(c.UpdatedAt),
		CreatedBy: nonEmpty(c.CreatedBy), UpdatedBy: nonEmpty(c.UpdatedBy),
		Health:       c.CurrentHealth().view(time.Now()),
		KeyUpdatedAt: formatOptTime(c.KeyUpdatedAt),
	})
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ProbeFingerprint identifies what a usage probe of c depends on: provider,
// base URL and key version. A cached usage result made under another
// fingerprint is stale, whatever its age.
func (c Credential) ProbeFingerprint() string {
	base := ""
	if c.BaseURL != nil {
		base = *c.BaseURL
	}
	sum := sha256.Sum256([]byte(c.Provider + "\x00" + base + "\x00" + c.KeyVersion))
	return hex.EncodeToString(sum[:12])
}

// lastFour is the seed's rule: the last four characters when there are at
// least four, else none.
func lastFour(key string) *string {
	r := []rune(key)
	if len(r) < 4 {
		return nil
	}
	s := string(r[len(r)-4:])
	return &s
}

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ParseID accepts a UUID in the forms Python's uuid.UUID does (canonical,
// 32 hex digits, braces, "urn:uuid:" prefix; any case) and returns it in
// canonical lower-case form.
func ParseID(s string) (string, bool) {
	s = strings.TrimPrefix(strings.ToLower(s), "urn:uuid:")
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32], true
}
