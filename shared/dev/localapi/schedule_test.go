package localapi_test

import (
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/localapi"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"rate(5 minutes)", 5 * time.Minute, true},
		{"rate(1 minute)", time.Minute, true},
		{"rate(2 hours)", 2 * time.Hour, true},
		{"rate(1 day)", 24 * time.Hour, true},
		{"rate(1 minutes)", 0, false},
		{"rate(5 minute)", 0, false},
		{"rate(0 minutes)", 0, false},
		{"cron(0/5 * * * ? *)", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := localapi.ParseRate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestLocalScheduleFromTemplate(t *testing.T) {
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	every, timeout, err := localapi.RefreshSchedule(tpl)
	if err != nil || every != 5*time.Minute || timeout != 300*time.Second {
		t.Fatalf("RefreshSchedule = %v, %v, %v; want 5m0s, 5m0s, nil", every, timeout, err)
	}
}
