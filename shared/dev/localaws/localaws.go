// Package localaws prepares the environment of a local command (make run,
// make refresh, make invoke, the cmd/ tools) for a local AWS emulator.
package localaws

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// DummyAccessKey is the access key (and secret) set for a loopback
// emulator. moto checks no signature; any credentials do.
const DummyAccessKey = "local"

// Defaults sets AWS_REGION to us-east-1 when neither it nor
// AWS_DEFAULT_REGION is set, and, when AWS_ENDPOINT_URL is on loopback
// (localhost, 127.0.0.0/8, ::1) and no credentials are configured
// (AWS_ACCESS_KEY_ID and AWS_PROFILE unset), dummy credentials: without
// them the SDK's default chain ends at EC2 IMDS ("no EC2 IMDS role found").
// A non-loopback endpoint, or credentials the user set, are left alone. It
// returns the names it set.
func Defaults(getenv func(string) string, setenv func(string, string) error) ([]string, error) {
	var set []string
	put := func(k, v string) error {
		if err := setenv(k, v); err != nil {
			return fmt.Errorf("localaws: set %s: %w", k, err)
		}
		set = append(set, k)
		return nil
	}
	if getenv("AWS_REGION") == "" && getenv("AWS_DEFAULT_REGION") == "" {
		if err := put("AWS_REGION", "us-east-1"); err != nil {
			return set, err
		}
	}
	if !IsLoopback(getenv("AWS_ENDPOINT_URL")) || getenv("AWS_ACCESS_KEY_ID") != "" || getenv("AWS_PROFILE") != "" {
		return set, nil
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if err := put(k, DummyAccessKey); err != nil {
			return set, err
		}
	}
	return set, nil
}

// Apply is Defaults on the process environment.
func Apply() ([]string, error) { return Defaults(os.Getenv, os.Setenv) }

// IsLoopback reports whether endpoint is an http(s) URL whose host is
// localhost or a loopback address.
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
