package usage

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResultRoundTripFull(t *testing.T) {
	reset := t0.Add(41 * time.Second)
	b, f := true, false
	r := Result{
		Provider: "anthropic", AccountKey: "default", CheckedAt: t0, Reachable: true, Error: strPtr("rate limited (HTTP 429)"),
		ErrorCode:    func() *Code { c := CodeRateLimited; return &c }(),
		Tokens:       TokenWindow{Limit: i64(80000), Remaining: i64(79000), Used: i64(1000), PctUsed: fp(1.25), ResetAt: &reset, ResetInMS: i64(41000), Period: "minute"},
		InputTokens:  TokenWindow{},
		OutputTokens: TokenWindow{Limit: i64(0), Used: i64(0)},
		Requests:     RequestWindow{Limit: i64(50), Remaining: i64(49), ResetAt: &reset, ResetInMS: i64(1000)},
		Models:       []string{"claude-haiku-4-5"}, SampleModel: strPtr("claude-haiku-4-5"),
		SampleInputTokens: i64(8), SampleOutputTokens: i64(1), SampleLatencyMS: i64(412),
		DebugRateLimitHeaders: []string{"anthropic-ratelimit-requests-limit"},
		WindowsExposed:        &b, Note: strPtr("n"),
		Balance: &BalanceInfoBalance,
		Credits: &Credits{Limit: fp(10), LimitRemaining: fp(9.35), LimitReset: strPtr("monthly"), Usage: fp(0.65), IsFreeTier: &f,
			FreeModelDailyRequests: &DailyRequests{Used: i64(3), Limit: i64(1000), Remaining: i64(997)}},
		KeyStatus: &KeyStatus{Blocked: &f, Disabled: &f, TeamBlocked: &f, ACLs: []string{"api-key:model:*"}},
	}
	roundTrip(t, r)
	roundTrip(t, Result{}) // nulls and zero time survive too
	roundTrip(t, Result{Models: []string{}})

	data, _ := json.Marshal(r)
	s := string(data)
	for _, want := range []string{
		`{"provider":"anthropic","account_key":"default","checked_at":"2026-05-20T22:03:57.123456Z","reachable":true,`,
		`"reset_at":"2026-05-20T22:04:38.123456Z","reset_in_ms":41000,"period":"minute"}`,
		`"input_tokens":{"limit":null,"remaining":null,"used":null,"pct_used":null,"reset_at":null,"reset_in_ms":null}`,
		`"requests":{"limit":50,"remaining":49,"reset_at":"2026-05-20T22:04:38.123456Z","reset_in_ms":1000}`,
		`"sample_model":"claude-haiku-4-5","sample_input_tokens":8,"sample_output_tokens":1,"sample_latency_ms":412`,
		`"debug_rate_limit_headers":["anthropic-ratelimit-requests-limit"]`,
		`"error_code":"rate_limited"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s\n%s", want, s)
		}
	}
	var empty Result
	data, _ = json.Marshal(empty)
	for _, want := range []string{`"models":null`, `"error":null`, `"debug_rate_limit_headers":null`, `"sample_model":null`, `"windows_exposed":null`, `"error_code":null`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("empty JSON lacks %s", want)
		}
	}
	for _, absent := range []string{`"balance"`, `"credits"`, `"key_status"`, `"period"`} {
		if strings.Contains(string(data), absent) {
			t.Errorf("empty JSON has %s", absent)
		}
	}
}

var BalanceInfoBalance = Balance{IsAvailable: func() *bool { b := true; return &b }(),
	Infos: []BalanceInfo{{Currency: "CNY", TotalBalance: "110.00", GrantedBalance: "10.00", ToppedUpBalance: "100.00"}}}

func TestResultUnmarshalForeignTimes(t *testing.T) {
	// Written by another implementation (e.g. the seed's isoformat with an offset).
	in := `{"provider":"openai","account_key":"a","checked_at":"2026-05-20T22:03:57.123456+00:00","reachable":false,"error":"x",
		"tokens":{"limit":null,"remaining":null,"used":null,"pct_used":null,"reset_at":"2026-05-21T00:04:38+02:00","reset_in_ms":null},
		"input_tokens":{},"requests":{},"models":null,"debug_rate_limit_headers":null}`
	var r Result
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if !r.CheckedAt.Equal(t0) || r.Tokens.ResetAt == nil || r.Tokens.ResetAt.Location() != time.UTC {
		t.Fatalf("times %v %v", r.CheckedAt, r.Tokens.ResetAt)
	}
	if !reflect.DeepEqual(r.Tokens.ResetAt.Format(time.RFC3339), "2026-05-20T22:04:38Z") {
		t.Fatalf("reset %v", r.Tokens.ResetAt)
	}
}
