package localaws

import (
	"slices"
	"testing"
)

func TestDefaults(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantSet []string
		wantKey string
	}{
		{"loopback, no credentials", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"},
			[]string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, DummyAccessKey},
		{"localhost", map[string]string{"AWS_ENDPOINT_URL": "http://localhost:4566", "AWS_REGION": "eu-west-1"},
			[]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, DummyAccessKey},
		{"IPv6 loopback", map[string]string{"AWS_ENDPOINT_URL": "http://[::1]:5000", "AWS_DEFAULT_REGION": "eu-west-1"},
			[]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, DummyAccessKey},
		{"credentials kept", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ACCESS_KEY_ID": "mine", "AWS_REGION": "x"},
			nil, "mine"},
		{"profile kept", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_PROFILE": "dev", "AWS_REGION": "x"},
			nil, ""},
		{"remote endpoint", map[string]string{"AWS_ENDPOINT_URL": "https://dynamodb.example.com", "AWS_REGION": "x"},
			nil, ""},
		{"host named like loopback", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1.example.com", "AWS_REGION": "x"},
			nil, ""},
		{"no endpoint (AWS itself)", map[string]string{"AWS_REGION": "x"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			set, err := Defaults(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(set, tt.wantSet) {
				t.Errorf("set %v, want %v", set, tt.wantSet)
			}
			if env["AWS_ACCESS_KEY_ID"] != tt.wantKey {
				t.Errorf("AWS_ACCESS_KEY_ID = %q, want %q", env["AWS_ACCESS_KEY_ID"], tt.wantKey)
			}
		})
	}
}
