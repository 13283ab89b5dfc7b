package secrets

import (
	"strings"
	"testing"
)

func TestNameEscapesOrgIDs(t *testing.T) {
	s, err := New(nil, "/provider-credentials/", 7)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, org := range []string{"org-a", "org/a", "org_2Fa", "org a", "org_a", "ÄÖ", "a/../b", "org%2Fa"} {
		name := s.Name(org, "id")
		if strings.Trim(name, nameChars) != "" {
			t.Errorf("Name(%q) = %q has characters secret names refuse", org, name)
		}
		if strings.Count(name, "/") != 2 || !strings.HasPrefix(name, "provider-credentials/") {
			t.Errorf("Name(%q) = %q, want prefix/org/id", org, name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("orgs %q and %q share the name %q", org, other, name)
		}
		seen[name] = org
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		days   int
	}{{"p", 6}, {"p", 31}, {"", 7}, {"bad prefix!", 7}} {
		if _, err := New(nil, tc.prefix, tc.days); err == nil {
			t.Errorf("New(%q, %d): want an error", tc.prefix, tc.days)
		}
	}
}
