// Package app wires the service together, once per cold start:
// configuration from the environment, the AWS clients, the adapters and the
// services built on them, and the scheduled refresh's runner. The HTTP
// functions' handlers are built on top of it by package routes; app itself
// links no HTTP layer, so the refresh function does not either.
package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Auth says which JWT claims carry the organisation and the role, and which
// roles are admins (httpapi.Auth has the same fields).
type Auth struct {
	OrgClaim   string   // default "org_id"
	RoleClaim  string   // default "org_role"
	AdminRoles []string // default admin, owner
}

// Config is everything read from the environment.
type Config struct {
	CredentialsTable string        // CREDENTIALS_TABLE
	UsageTable       string        // USAGE_TABLE
	SecretPrefix     string        // SECRET_PREFIX, default "provider-credentials" (the template sets <SecretPrefix>/<stack name>)
	StackName        string        // STACK_NAME: the tag on every secret this deployment creates; the sweep touches only those
	RecoveryDays     int           // SECRET_RECOVERY_DAYS, 7 to 30, default 7
	SecretKMSKey     string        // SECRET_KMS_KEY_ID: KMS key ARN new secrets are encrypted with; empty, the AWS managed key
	Auth             Auth          // ORG_ID_CLAIM, ORG_ROLE_CLAIM, ADMIN_ROLES
	UsageFresh       time.Duration // USAGE_FRESH_SECONDS, default 60
	ScheduledFresh   time.Duration // USAGE_SCHEDULED_FRESH_SECONDS, default 360: results of the scheduled refresh
	ProbeTimeout     time.Duration // PROBE_TIMEOUT_SECONDS, default 10
	AllowPrivate     bool          // PROBE_ALLOW_PRIVATE_NETWORKS=1: local testing only
	QuotaLowPercent  int           // QUOTA_LOW_PERCENT, 1 to 99, default 10: a window under it marks the credential's quota low
	KeyMaxAge        time.Duration // KEY_MAX_AGE_DAYS, default 90, 0 off: older keys are stale (credentials.Credential.KeyStale)
}

// LoadConfig reads the configuration through getenv (os.Getenv in Lambda,
// a map in tests).
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	num := func(name string, def, min, max int) int {
		v := get(name, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, min, max))
			return def
		}
		return n
	}
	c := Config{
		CredentialsTable: get("CREDENTIALS_TABLE", ""),
		UsageTable:       get("USAGE_TABLE", ""),
		SecretPrefix:     get("SECRET_PREFIX", "provider-credentials"),
		StackName:        get("STACK_NAME", ""),
		RecoveryDays:     num("SECRET_RECOVERY_DAYS", 7, 7, 30),
		SecretKMSKey:     get("SECRET_KMS_KEY_ID", ""),
		Auth: Auth{
			OrgClaim:  get("ORG_ID_CLAIM", "org_id"),
			RoleClaim: get("ORG_ROLE_CLAIM", "org_role"),
		},
		UsageFresh:      time.Duration(num("USAGE_FRESH_SECONDS", 60, 1, 86400)) * time.Second,
		ScheduledFresh:  time.Duration(num("USAGE_SCHEDULED_FRESH_SECONDS", 360, 1, 86400)) * time.Second,
		ProbeTimeout:    time.Duration(num("PROBE_TIMEOUT_SECONDS", 10, 1, 25)) * time.Second,
		AllowPrivate:    get("PROBE_ALLOW_PRIVATE_NETWORKS", "") == "1",
		QuotaLowPercent: num("QUOTA_LOW_PERCENT", 10, 1, 99),
		KeyMaxAge:       time.Duration(num("KEY_MAX_AGE_DAYS", 90, 0, 36500)) * 24 * time.Hour,
	}
	for _, r := range strings.Split(get("ADMIN_ROLES", "admin,owner"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.Auth.AdminRoles = append(c.Auth.AdminRoles, r)
		}
	}
	if c.CredentialsTable == "" {
		errs = append(errs, errors.New("CREDENTIALS_TABLE is not set"))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("app: configuration: %w", errors.Join(errs...))
	}
	return c, nil
}
