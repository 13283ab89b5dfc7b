package app

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Env { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{"CREDENTIALS_TABLE": "creds"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.OrgClaim != "org_id" || c.Auth.RoleClaim != "org_role" || !reflect.DeepEqual(c.Auth.AdminRoles, []string{"admin", "owner"}) ||
		c.SecretPrefix != "provider-credentials" || c.RecoveryDays != 7 || c.UsageFresh != 60*time.Second ||
		c.ProbeTimeout != 10*time.Second || c.AllowPrivate || c.QuotaLowPercent != 10 || c.KeyMaxAge != 90*24*time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
	c, _ = LoadConfig(env(map[string]string{"CREDENTIALS_TABLE": "creds", "ADMIN_ROLES": " boss , ,chief", "PROBE_ALLOW_PRIVATE_NETWORKS": "1", "KEY_MAX_AGE_DAYS": "0"}))
	if !reflect.DeepEqual(c.Auth.AdminRoles, []string{"boss", "chief"}) || !c.AllowPrivate || c.KeyMaxAge != 0 {
		t.Fatalf("overrides = %+v", c)
	}
}

func TestLoadConfigFailsFast(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{"SECRET_RECOVERY_DAYS": "3", "USAGE_FRESH_SECONDS": "soon", "QUOTA_LOW_PERCENT": "100", "KEY_MAX_AGE_DAYS": "-1"}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"CREDENTIALS_TABLE", "SECRET_RECOVERY_DAYS", "USAGE_FRESH_SECONDS", "QUOTA_LOW_PERCENT", "KEY_MAX_AGE_DAYS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestSecretKMSKey(t *testing.T) {
	const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	c, err := LoadConfig(env(map[string]string{"CREDENTIALS_TABLE": "t", "SECRET_KMS_KEY_ID": key}))
	if err != nil || c.SecretKMSKey != key {
		t.Fatalf("SECRET_KMS_KEY_ID: got %q, %v; want %q", c.SecretKMSKey, err, key)
	}
	if c, err = LoadConfig(env(map[string]string{"CREDENTIALS_TABLE": "t"})); err != nil || c.SecretKMSKey != "" {
		t.Fatalf("no SECRET_KMS_KEY_ID: got %q, %v; want the AWS managed key (empty)", c.SecretKMSKey, err)
	}
}
