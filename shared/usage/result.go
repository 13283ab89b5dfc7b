package usage

import (
	"encoding/json"
	"fmt"
	"time"
)

// Result is the wire format of SPEC's Usage resource (the seed's
// ProviderUsageLiveRead) plus the additive fields documented in doc.go. It
// round-trips exactly through json.Marshal and json.Unmarshal as long as its
// times are UTC and carry no more than microsecond precision, which is what
// Probe produces.
type Result struct {
	Provider    string        `json:"provider"`
	AccountKey  string        `json:"account_key"`
	CheckedAt   time.Time     `json:"checked_at"`
	Reachable   bool          `json:"reachable"`
	Error       *string       `json:"error"`
	Tokens      TokenWindow   `json:"tokens"`
	InputTokens TokenWindow   `json:"input_tokens"`
	Requests    RequestWindow `json:"requests"`
	Models      []string      `json:"models"`

	SampleModel        *string `json:"sample_model"`
	SampleInputTokens  *int64  `json:"sample_input_tokens"`
	SampleOutputTokens *int64  `json:"sample_output_tokens"`
	SampleLatencyMS    *int64  `json:"sample_latency_ms"`

	DebugRateLimitHeaders []string `json:"debug_rate_limit_headers"`

	// Additive fields (SPEC allows new fields); see doc.go.

	// ErrorCode is Error's typed reason, one of Codes(); nil when Error is.
	ErrorCode      *Code       `json:"error_code"`
	OutputTokens   TokenWindow `json:"output_tokens"`
	WindowsExposed *bool       `json:"windows_exposed"`
	Note           *string     `json:"note"`
	Balance        *Balance    `json:"balance,omitempty"`
	Credits        *Credits    `json:"credits,omitempty"`
	KeyStatus      *KeyStatus  `json:"key_status,omitempty"`
}

// TokenWindow is one token rate-limit window. Unknown values are nil (JSON null).
type TokenWindow struct {
	Limit     *int64
	Remaining *int64
	Used      *int64
	PctUsed   *float64
	ResetAt   *time.Time
	ResetInMS *int64
	// Period is the window's length when the provider documents it
	// ("second", "minute", "day"); empty (omitted) when unknown.
	Period string
}

// RequestWindow is the request rate-limit window. Unknown values are nil.
type RequestWindow struct {
	Limit     *int64
	Remaining *int64
	ResetAt   *time.Time
	ResetInMS *int64
	Period    string
}

// Balance is DeepSeek's GET /user/balance, amounts kept as the strings the
// provider sends.
type Balance struct {
	IsAvailable *bool         `json:"is_available"`
	Infos       []BalanceInfo `json:"balance_infos"`
}

// BalanceInfo is one currency of a DeepSeek balance.
type BalanceInfo struct {
	Currency        string `json:"currency"`
	TotalBalance    string `json:"total_balance"`
	GrantedBalance  string `json:"granted_balance"`
	ToppedUpBalance string `json:"topped_up_balance"`
}

// Credits is OpenRouter's GET /api/v1/key without its masked-key label.
// Amounts are credits (US dollars); nil when the provider sent null.
type Credits struct {
	Limit                  *float64       `json:"limit"`
	LimitRemaining         *float64       `json:"limit_remaining"`
	LimitReset             *string        `json:"limit_reset"`
	Usage                  *float64       `json:"usage"`
	UsageDaily             *float64       `json:"usage_daily"`
	UsageWeekly            *float64       `json:"usage_weekly"`
	UsageMonthly           *float64       `json:"usage_monthly"`
	IsFreeTier             *bool          `json:"is_free_tier"`
	FreeModelDailyRequests *DailyRequests `json:"free_model_daily_requests"`
}

// DailyRequests is OpenRouter's free-model daily request allowance.
type DailyRequests struct {
	Used      *int64 `json:"used"`
	Limit     *int64 `json:"limit"`
	Remaining *int64 `json:"remaining"`
}

// KeyStatus is xAI's GET /v1/api-key without redacted_api_key or any name.
type KeyStatus struct {
	Blocked     *bool    `json:"api_key_blocked"`
	Disabled    *bool    `json:"api_key_disabled"`
	TeamBlocked *bool    `json:"team_blocked"`
	ACLs        []string `json:"acls"`
}

// stampLayout is RFC 3339 in UTC with exactly six fractional digits.
const stampLayout = "2006-01-02T15:04:05.000000Z07:00"

// stamp marshals a time as RFC 3339 UTC with microseconds.
type stamp time.Time

func (s stamp) MarshalJSON() ([]byte, error) {
	t := time.Time(s).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("usage: time %v out of range", y)
	}
	return []byte(`"` + t.Format(stampLayout) + `"`), nil
}

func (s *stamp) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return err
	}
	*s = stamp(t.UTC())
	return nil
}

type tokenWindowJSON struct {
	Limit     *int64   `json:"limit"`
	Remaining *int64   `json:"remaining"`
	Used      *int64   `json:"used"`
	PctUsed   *float64 `json:"pct_used"`
	ResetAt   *stamp   `json:"reset_at"`
	ResetInMS *int64   `json:"reset_in_ms"`
	Period    string   `json:"period,omitempty"`
}

// MarshalJSON writes the window with SPEC's field names.
func (w TokenWindow) MarshalJSON() ([]byte, error) {
	return json.Marshal(tokenWindowJSON{w.Limit, w.Remaining, w.Used, w.PctUsed, (*stamp)(w.ResetAt), w.ResetInMS, w.Period})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *TokenWindow) UnmarshalJSON(b []byte) error {
	var j tokenWindowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*w = TokenWindow{j.Limit, j.Remaining, j.Used, j.PctUsed, (*time.Time)(j.ResetAt), j.ResetInMS, j.Period}
	return nil
}

type requestWindowJSON struct {
	Limit     *int64 `json:"limit"`
	Remaining *int64 `json:"remaining"`
	ResetAt   *stamp `json:"reset_at"`
	ResetInMS *int64 `json:"reset_in_ms"`
	Period    string `json:"period,omitempty"`
}

// MarshalJSON writes the window with SPEC's field names.
func (w RequestWindow) MarshalJSON() ([]byte, error) {
	return json.Marshal(requestWindowJSON{w.Limit, w.Remaining, (*stamp)(w.ResetAt), w.ResetInMS, w.Period})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *RequestWindow) UnmarshalJSON(b []byte) error {
	var j requestWindowJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*w = RequestWindow{j.Limit, j.Remaining, (*time.Time)(j.ResetAt), j.ResetInMS, j.Period}
	return nil
}

// resultAlias has Result's fields without its methods.
type resultAlias Result

type resultJSON struct {
	// The first three fields shadow the alias's, keeping SPEC's field order.
	Provider   string `json:"provider"`
	AccountKey string `json:"account_key"`
	CheckedAt  stamp  `json:"checked_at"`
	*resultAlias
}

// MarshalJSON writes checked_at as RFC 3339 UTC with microseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	a := resultAlias(r)
	return json.Marshal(resultJSON{r.Provider, r.AccountKey, stamp(r.CheckedAt), &a})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var a resultAlias
	j := resultJSON{resultAlias: &a}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	a.Provider, a.AccountKey, a.CheckedAt = j.Provider, j.AccountKey, time.Time(j.CheckedAt)
	*r = Result(a)
	return nil
}
