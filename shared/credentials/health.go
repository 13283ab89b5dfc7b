package credentials

import "time"

// HealthStatus is a credential's key health: ok, failing, or unknown (never
// probed, or not since its key or base URL changed).
type HealthStatus string

// The health statuses.
const (
	HealthUnknown HealthStatus = "unknown"
	HealthOK      HealthStatus = "ok"
	HealthFailing HealthStatus = "failing"
)

// Health is what the probes found out about a credential's key, kept on the
// credential's own item by liveusage (the scheduled refresh and usage
// probes) with a write only when it changes; see liveusage.NextHealth for
// the rules. The zero value is unknown.
//
// Stored (shared/dynamo) as the attributes health_status, health_code,
// failing_since, last_ok_at, health_checked_at, health_fingerprint,
// health_stale_key and the quota-low marker quota_low_window,
// quota_low_pct, quota_low_reset_at. A
// health write changes only those, never revision or updated_at.
type Health struct {
	Status       HealthStatus // "" is unknown
	ErrorCode    *string      // the usage error_code that made it failing; nil when ok
	FailingSince time.Time    // when it last became failing; zero unless failing
	LastOKAt     time.Time    // last probe that found the key working (kept coarse: hourly)
	CheckedAt    time.Time    // when the health was last written (not every probe writes it)
	QuotaLow     *QuotaLow    // the last quota-low marker, nil when none
	// StaleKey: a probe found the key older than KEY_MAX_AGE_DAYS (marked
	// once; a new key starts a new health, unmarked).
	StaleKey bool

	// Fingerprint is the ProbeFingerprint of the credential the health was
	// found with; health found with another key or base URL is not served.
	Fingerprint string
}

// QuotaLow marks a rate-limit window whose remaining fell under the
// configured percentage of its limit, once per window reset.
type QuotaLow struct {
	Window       string    // tokens, input_tokens, output_tokens or requests
	RemainingPct float64   // remaining as a percentage of the limit when seen
	ResetAt      time.Time // the window's reset
}

// CurrentHealth is c's stored health if it was found with c's current key
// and base URL, the zero (unknown) Health otherwise.
func (c Credential) CurrentHealth() Health {
	if c.Health.Status == "" || c.Health.Fingerprint != c.ProbeFingerprint() {
		return Health{}
	}
	return c.Health
}

// healthView is the wire form of Health (the "health" field).
type healthView struct {
	Status       HealthStatus  `json:"status"`
	ErrorCode    *string       `json:"error_code"`
	FailingSince *string       `json:"failing_since"`
	LastOKAt     *string       `json:"last_ok_at"`
	CheckedAt    *string       `json:"checked_at"`
	QuotaLow     *quotaLowView `json:"quota_low"`
	StaleKey     bool          `json:"stale_key"`
}

type quotaLowView struct {
	Window       string  `json:"window"`
	RemainingPct float64 `json:"remaining_pct"`
	ResetAt      string  `json:"reset_at"`
}

// view renders h as of now: a quota-low marker whose window has reset is
// not served.
func (h Health) view(now time.Time) healthView {
	v := healthView{Status: h.Status, ErrorCode: h.ErrorCode,
		FailingSince: optTime(h.FailingSince), LastOKAt: optTime(h.LastOKAt), CheckedAt: optTime(h.CheckedAt),
		StaleKey: h.StaleKey}
	if v.Status == "" {
		v.Status = HealthUnknown
	}
	if q := h.QuotaLow; q != nil && now.Before(q.ResetAt) {
		v.QuotaLow = &quotaLowView{Window: q.Window, RemainingPct: q.RemainingPct, ResetAt: FormatTime(q.ResetAt)}
	}
	return v
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := FormatTime(t)
	return &s
}
