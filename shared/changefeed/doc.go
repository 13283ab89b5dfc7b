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
//	Credential Health Changed  the health item's status moved between ok and failing
//	Credential Quota Low       the health item's quota-low marker moved to a new window
//
// Writes that change nothing a reader sees publish nothing: lock-only
// writes (images equal but for dynamo.LockAttributes), uniqueness guards
// (sk "UNIQ#..."), refresh cursors (pk "#refresh"). template.yaml's stream
// filter drops the same records before they reach the function; Relevant
// repeats the rule in code, since a local run has no filtering.
//
// # The health item (defined here; written by the refresh and the probes)
//
// A credential's health is a separate item in the credentials table, so
// that a health write never bumps the credential's revision nor races a key
// change, and list and get still read one item per credential:
//
//	pk = organisation id
//	sk = "HEALTH#<credential id>"
//	kind          "health"
//	credential_id, provider, account_key   copied from the credential
//	status        "ok" | "failing" | "unknown"
//	error_code    the probe's typed reason while failing (usage.Code*); absent when ok
//	failing_since RFC 3339: first failed check of the current failing run; absent when ok
//	last_ok_at    RFC 3339: last successful check, kept coarse (not rewritten every run)
//	checked_at    RFC 3339: when status was last decided
//	quota_low_window     the window that ran low: "requests", "tokens" or "input_tokens"
//	quota_low_reset_at   RFC 3339: when that window resets; names the window instance
//	quota_low_remaining  number, the window's remaining at the check
//	quota_low_limit      number, the window's limit
//	quota_low_at         RFC 3339: when it was seen low
//
// The writer sets the quota_low_* marker when a window's remaining falls
// under QuotaLowPercent (QUOTA_LOW_PERCENT, template parameter
// QuotaLowPercent, default 10) of its limit and the stored marker does not
// already name that window and reset time: so at most one write, and one
// event, per window reset. The publisher emits Health Changed when the new
// status is ok or failing and differs from the old one, except a first
// "ok" (from no item or "unknown"), which is not news; and Quota Low when
// (quota_low_window, quota_low_reset_at) of the new image is set and
// differs from the old image's.
package changefeed
