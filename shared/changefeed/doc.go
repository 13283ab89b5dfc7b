// Package changefeed publishes what was committed to the credentials table
// as EventBridge events. It reads the table's DynamoDB stream (new and old
// images), so a request that failed publishes nothing and a request makes
// no AWS call for events; the publisher function (functions/publish-events)
// runs it as a DynamoDB event source with partial batch failure reporting,
// and `make run` runs the same handler over the emulator's stream.
//
// # Events
//
// Each event's source is the configured one (EVENT_SOURCE, template
// parameter EventSource) and its detail names the organisation, the
// credential, its provider and account key, the actor (the JWT sub of the
// request that made the change; null for system changes such as health),
// the time, the credential's revision (absent for health and quota events,
// whose writes never bump it), and event_id: an id derived from the stream
// record, the same however often the record is delivered, for consumers to
// de-duplicate on (PutEvents assigns its own id to each delivery). A
// detail never carries a key, a key version or a secret name.
//
//	Credential Created         a credential item appeared
//	Credential Updated         display_name, active or base_url changed (changed_fields)
//	Credential Key Changed     the key was set, cleared or rotated (change, api_key_last_four)
//	Credential Deleted         the credential item was removed
//	Credential Health Changed  the credential's health_status moved between ok and failing,
//	                           or it failed anew (another health_code or key)
//	Credential Quota Low       the credential's quota-low marker moved to a new window
//	Credential Key Stale       a probe marked the key older than KEY_MAX_AGE_DAYS (once per key)
//
// Writes that change nothing a reader sees publish nothing: lock-only
// writes (images equal but for dynamo.LockAttributes), uniqueness guards
// (sk "UNIQ#..."), refresh cursors (pk "#refresh"). template.yaml's stream
// filter drops the same records before they reach the function; Relevant
// repeats the rule in code, since a local run has no filtering.
//
// # Health on the credential item (written by the refresh and the probes)
//
// A credential's health lives on its own item (sk "CRED#<id>"), in the
// attributes dynamo.HealthAttrs names (the feed keeps its own copy of the
// names; a test holds them equal):
//
//	health_status       "ok" | "failing"; absent: unknown
//	health_code         the probe's typed reason while failing (usage.Code*)
//	failing_since       RFC 3339: first failed check of the current failing run
//	last_ok_at          RFC 3339: last check that found the key working, kept coarse (hourly)
//	health_checked_at   RFC 3339: when the health was last written
//	health_fingerprint  what the health was found with (key version, base URL); never published
//	quota_low_window    the window that ran low: "requests", "tokens", "input_tokens", "output_tokens"
//	quota_low_pct       number: its remaining, percent of its limit (one decimal)
//	quota_low_reset_at  RFC 3339: when that window resets; names the window instance
//
// A health write (dynamo.PutHealth) is a MODIFY of the credential item
// that sets or removes only these, conditional on no live lock: revision,
// updated_at and every other attribute are the same in both images. Such a
// record publishes only health events, never Credential Updated; a
// credential write carries the health as it read it, so its record
// publishes no health event.
//
// Health Changed is published when the new health_status is ok or failing
// and differs from the old one (absent: unknown), except a first ok (from
// unknown), which is not news; and when it stays failing but health_code,
// health_fingerprint or failing_since changed: a new failing run, for
// another reason (previous_error_code says which it was) or with a new key
// or base URL that fails too. Health going unknown, or only last_ok_at and
// health_checked_at moving, is no event. The writer sets the quota-low
// marker when a window's remaining falls under QuotaLowPercent
// (QUOTA_LOW_PERCENT, template parameter QuotaLowPercent, default 10) of
// its limit and the stored marker's reset is an hour past
// (liveusage.QuotaLowRepeat): at most one write per window reset, and at
// most one an hour for a window that resets sooner. Quota Low is published when (quota_low_window,
// quota_low_reset_at) of the new image is set and differs from the old
// image's, with remaining_pct from quota_low_pct. Both carry no actor and
// no revision (a health write never bumps it).
//
// template.yaml's filter passes a health write: its new image holds no
// key_lock, since a health write lands only without a live lock and
// removes a dead one (left by a request that died before it unlocked).
package changefeed
