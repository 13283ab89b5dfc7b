package main

import (
	"strings"
	"testing"
)

func TestBanner(t *testing.T) {
	b := banner("127.0.0.1:3000", "http://127.0.0.1:5001",
		map[string]string{"UsageTable": "local-UsageTable", "CredentialsTable": "local-CredentialsTable"}, "dev")
	for _, want := range []string{
		"\n    export AWS_ENDPOINT_URL=http://127.0.0.1:5001\n",
		"tables: local-CredentialsTable (CredentialsTable), local-UsageTable (UsageTable)\n",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "map[") {
		t.Errorf("banner prints a Go map:\n%s", b)
	}
}

func TestJWTIssuerWithoutAudience(t *testing.T) {
	t.Setenv("JWT_ISSUER", "https://issuer.example")
	t.Setenv("JWT_AUDIENCE", "")
	_, _, err := verifier(t.Context())
	if err == nil || !strings.Contains(err.Error(), "JWT_AUDIENCE") {
		t.Fatalf("verifier with JWT_ISSUER and no JWT_AUDIENCE: got %v, want an error naming JWT_AUDIENCE", err)
	}
}
