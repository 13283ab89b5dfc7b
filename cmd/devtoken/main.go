// Command devtoken prints a development token for the local API (`make run`
// without JWT_ISSUER): go run ./cmd/devtoken --org ORG --role ROLE [--sub SUB] [--ttl 12h].
// Only the token goes to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/acme/provider-credentials/shared/dev/authn"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(2)
	}
}

// roles collects --role values, repeated or comma-separated.
type roles []string

func (r *roles) String() string { return strings.Join(*r, ",") }

func (r *roles) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*r = append(*r, p)
		}
	}
	return nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	org := fs.String("org", "", "organisation id (required)")
	sub := fs.String("sub", "dev-user", "subject")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	var rs roles
	fs.Var(&rs, "role", "role; repeat or comma-separate for several (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *org == "" || len(rs) == 0 {
		return errors.New("--org and --role are required")
	}
	if *ttl <= 0 {
		return errors.New("--ttl must be positive")
	}
	claims := authn.DevClaims(*sub, *ttl, now)
	claims[envOr(getenv, "ORG_ID_CLAIM", "org_id")] = *org
	var role any = rs[0]
	if len(rs) > 1 {
		role = []string(rs)
	}
	claims[envOr(getenv, "ORG_ROLE_CLAIM", "org_role")] = role

	d, err := authn.NewDevIssuer()
	if err != nil {
		return err
	}
	tok, err := d.Sign(claims)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
