package httpapi

import (
	"reflect"
	"testing"
)

func TestParseRoles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"admin", []string{"admin"}},
		{"[admin billing]", []string{"admin", "billing"}},
		{`["admin","billing"]`, []string{"admin", "billing"}},
		{`["admin", ""]`, []string{"admin"}},
		{"[]", nil},
		{"[ ]", nil},
		{"[admin", []string{"[admin"}},
	} {
		got := ParseRoles(tc.in)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseRoles(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOptBoolIsAsLenientAsPydantic(t *testing.T) {
	for in, want := range map[string]string{
		`true`: "true", `false`: "false", `"yes"`: "true", `"off"`: "false", `1`: "true", `0`: "false",
		`null`: "nil", `"maybe"`: "error", `2`: "error", `[]`: "error",
	} {
		o, err := parseObject([]byte(`{"active":` + in + `}`))
		if err != nil {
			t.Fatalf("parse %s: %v", in, err)
		}
		got := "nil"
		if b := o.optBool("active"); b != nil {
			got = map[bool]string{true: "true", false: "false"}[*b]
		}
		if o.err() != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("active=%s: got %s, want %s", in, got, want)
		}
	}
}
