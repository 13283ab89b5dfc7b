package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/dev/authn"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string // flattened claims
	}{
		{"one role", []string{"--org", "org-a", "--role", "admin"}, nil,
			map[string]string{"org_id": "org-a", "org_role": "admin", "sub": "dev-user", "aud": authn.DevAudience}},
		{"repeated and comma-separated roles", []string{"--org", "o", "--role", "admin,billing", "--role", "x", "--sub", "alice"}, nil,
			map[string]string{"org_id": "o", "org_role": "[admin billing x]", "sub": "alice"}},
		{"claim names from env", []string{"--org", "o", "--role", "member"},
			map[string]string{"ORG_ID_CLAIM": "https://acme/org", "ORG_ROLE_CLAIM": "https://acme/role"},
			map[string]string{"https://acme/org": "o", "https://acme/role": "member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			if err := run(tt.args, getenv, &out, io.Discard, time.Now()); err != nil {
				t.Fatalf("run: %v", err)
			}
			tok := strings.TrimSuffix(out.String(), "\n")
			if strings.ContainsAny(tok, " \n") {
				t.Fatalf("stdout = %q, want the token alone", out.String())
			}
			d, err := authn.NewDevIssuer()
			if err != nil {
				t.Fatal(err)
			}
			claims, err := d.Verifier().Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			flat := authn.FlattenClaims(claims)
			for k, w := range tt.want {
				if flat[k] != w {
					t.Errorf("claim %q = %q, want %q", k, flat[k], w)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{{"--org", "o"}, {"--role", "admin"}, {"--org", "o", "--role", "a", "--ttl", "-1h"}, {"--bogus"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(args, func(string) string { return "" }, &out, io.Discard, time.Now()); err == nil {
				t.Errorf("run(%q): got no error, want one", args)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want empty", out.String())
			}
		})
	}
}
