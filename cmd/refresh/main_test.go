package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/moto"
)

// unsetenv unsets k for the test (t.Setenv restores it afterwards).
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

// `AWS_ENDPOINT_URL=<the endpoint make run printed> make refresh` with no
// AWS credentials anywhere: the refresh runs against the emulator with
// dummy credentials instead of failing at EC2 IMDS.
func TestRefreshAgainstALocalEmulatorWithoutCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := moto.Start(ctx) // stands in for the emulator `make run` started
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(srv.Stop)

	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "CREDENTIALS_TABLE", "USAGE_TABLE"} {
		unsetenv(t, k)
	}
	dir := t.TempDir() // no shared config or credentials file
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Chdir(awstest.RepoRoot()) // make refresh runs from the repo root (template.yaml)

	if err := run(ctx); err != nil {
		t.Fatalf("refresh against %s without AWS credentials: %v", srv.URL, err)
	}
	if got := os.Getenv("AWS_ACCESS_KEY_ID"); got == "" {
		t.Error("AWS_ACCESS_KEY_ID is still unset; want the dummy credentials set for the loopback endpoint")
	}
}
