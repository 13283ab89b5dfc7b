package liveusage

import (
	"context"
	"math"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/usage"
)

// LastOKGranularity is how coarse a healthy credential's last_ok_at is: a
// probe that finds a healthy key working rewrites it only when the stored
// one is at least this old, so a key probed every few minutes costs one
// health write an hour, not one a probe.
const LastOKGranularity = time.Hour

// QuotaLowRepeat is how long after the marked window's reset a window low
// again is marked anew: a window that resets every minute (requests per
// minute) stays low across many resets, and a marker (and a "Credential
// Quota Low" event, perhaps an e-mail) per refresh run would be noise; an
// hour or daily window is marked again in its next low window.
const QuotaLowRepeat = time.Hour

// DefaultQuotaLowPercent is Options.QuotaLowPercent's default.
const DefaultQuotaLowPercent = 10

// NextHealth is the credential health after a probe result res, from prev
// (the credential's CurrentHealth), and whether it must be written:
//
//   - an error_code that says the key cannot be used (Code.KeyFailing:
//     invalid_key, permission_denied, insufficient_quota, no_key): failing,
//     with that code; failing_since is the first failing probe's time and
//     is kept while it stays failing;
//   - a reachable provider with no error, or rate_limited (a valid key,
//     throttled): ok; last_ok_at is the probe's time when it became ok or
//     the stored one is LastOKGranularity old, else kept;
//   - any other code (unreachable, timeout, tls_error, address_not_allowed,
//     bad_base_url, provider_error, or none on an unreachable result): no
//     verdict on the key, everything kept.
//
// A window (tokens, input_tokens, output_tokens, requests) whose remaining
// is under quotaLowPct percent of its limit sets the quota-low marker, once
// per window reset: only when no marker is stored or the stored one's
// reset_at has passed.
//
// write is true only when something changed (status, error_code,
// failing_since, last_ok_at, the marker); CheckedAt is then the probe's time
// and Fingerprint the one given (the probed credential's).
func NextHealth(prev credentials.Health, fingerprint string, res usage.Result, quotaLowPct float64, staleKey bool) (next credentials.Health, write bool) {
	now := res.CheckedAt.UTC().Truncate(time.Microsecond)
	next = prev
	code := res.ErrorCode
	switch {
	case code != nil && code.KeyFailing():
		if prev.Status != credentials.HealthFailing {
			next.FailingSince = now
		}
		c := string(*code)
		next.Status, next.ErrorCode = credentials.HealthFailing, &c
	case res.Reachable && (code == nil || *code == usage.CodeRateLimited):
		if prev.Status != credentials.HealthOK || now.Sub(prev.LastOKAt) >= LastOKGranularity {
			next.LastOKAt = now
		}
		next.Status, next.ErrorCode, next.FailingSince = credentials.HealthOK, nil, time.Time{}
	}
	if q := quotaLow(res, quotaLowPct, now); q != nil && next.Status != "" &&
		(prev.QuotaLow == nil || now.Sub(prev.QuotaLow.ResetAt) >= QuotaLowRepeat) {
		next.QuotaLow = q
	}
	// A key past its maximum age is marked once, on the first probe that
	// finds it so, whatever that probe says of the key.
	if staleKey && next.Status != "" {
		next.StaleKey = true
	}
	changed := next.Status != prev.Status || !sameCode(next.ErrorCode, prev.ErrorCode) ||
		!next.FailingSince.Equal(prev.FailingSince) || !next.LastOKAt.Equal(prev.LastOKAt) ||
		next.QuotaLow != prev.QuotaLow || next.StaleKey != prev.StaleKey
	if !changed {
		return prev, false
	}
	next.CheckedAt, next.Fingerprint = now, fingerprint
	return next, true
}

func sameCode(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// quotaLow is the window of res with the lowest remaining share under pct
// percent of its limit and a reset still ahead, nil when none.
func quotaLow(res usage.Result, pct float64, now time.Time) *credentials.QuotaLow {
	type window struct {
		name             string
		limit, remaining *int64
		reset            *time.Time
	}
	var low *credentials.QuotaLow
	for _, w := range []window{
		{"requests", res.Requests.Limit, res.Requests.Remaining, res.Requests.ResetAt},
		{"tokens", res.Tokens.Limit, res.Tokens.Remaining, res.Tokens.ResetAt},
		{"input_tokens", res.InputTokens.Limit, res.InputTokens.Remaining, res.InputTokens.ResetAt},
		{"output_tokens", res.OutputTokens.Limit, res.OutputTokens.Remaining, res.OutputTokens.ResetAt},
	} {
		if w.limit == nil || w.remaining == nil || w.reset == nil || *w.limit <= 0 || !w.reset.After(now) {
			continue
		}
		share := 100 * float64(max(*w.remaining, 0)) / float64(*w.limit)
		if share >= pct || (low != nil && share >= low.RemainingPct) {
			continue
		}
		low = &credentials.QuotaLow{Window: w.name, RemainingPct: math.Round(share*10) / 10,
			ResetAt: w.reset.UTC().Truncate(time.Microsecond)}
	}
	return low
}

// keepHealth writes the health res implies for c when it changed. The
// write is conditional on c being unchanged and unlocked; when it loses
// (the key changed, the credential was deleted or is being changed), the
// next probe decides again, so that is not worth more than a debug line.
func (s *Service) keepHealth(ctx context.Context, c credentials.Credential, res usage.Result) {
	next, write := NextHealth(c.CurrentHealth(), c.ProbeFingerprint(), res, s.quotaLowPct, c.KeyStale(res.CheckedAt, s.keyMaxAge))
	if !write {
		return
	}
	err := s.store.PutHealth(ctx, c, next)
	switch {
	case err == nil:
	case credentials.IsKind(err, credentials.Conflict), credentials.IsKind(err, credentials.NotFound):
		s.log.DebugContext(ctx, "health not written: credential changed", "credential", c.ID, "err", err)
	default:
		s.log.WarnContext(ctx, "health not written", "credential", c.ID, "err", err)
	}
}
