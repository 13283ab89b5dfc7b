package changefeed

import (
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Detail types of the events published.
const (
	TypeCreated       = "Credential Created"
	TypeUpdated       = "Credential Updated"
	TypeKeyChanged    = "Credential Key Changed"
	TypeDeleted       = "Credential Deleted"
	TypeHealthChanged = "Credential Health Changed"
	TypeQuotaLow      = "Credential Quota Low"
	TypeKeyStale      = "Credential Key Stale"
)

// Key changes, as Credential Key Changed's change field says them.
const (
	KeySet     = "set"
	KeyCleared = "cleared"
	KeyRotated = "rotated"
)

// Event is one event to publish: its detail type, time and detail.
type Event struct {
	DetailType string
	Time       time.Time
	Detail     any // one of the *Detail types, marshalled to JSON
}

// Base is what every event's detail carries.
type Base struct {
	EventID      string  `json:"event_id"`
	OrgID        string  `json:"org_id"`
	CredentialID string  `json:"credential_id"`
	Provider     string  `json:"provider"`
	AccountKey   string  `json:"account_key"`
	Actor        *string `json:"actor"`
	Time         string  `json:"time"`
	Revision     int64   `json:"revision,omitempty"`
}

// CreatedDetail is Credential Created's detail.
type CreatedDetail struct {
	Base
	DisplayName    string  `json:"display_name"`
	Active         bool    `json:"active"`
	HasAPIKey      bool    `json:"has_api_key"`
	APIKeyLastFour *string `json:"api_key_last_four"`
	BaseURL        *string `json:"base_url"`
}

// UpdatedDetail is Credential Updated's detail: the fields that changed
// (of display_name, active, base_url) and their values now.
type UpdatedDetail struct {
	Base
	ChangedFields []string `json:"changed_fields"`
	DisplayName   string   `json:"display_name"`
	Active        bool     `json:"active"`
	BaseURL       *string  `json:"base_url"`
}

// KeyChangedDetail is Credential Key Changed's detail.
type KeyChangedDetail struct {
	Base
	Change         string  `json:"change"` // KeySet, KeyCleared or KeyRotated
	APIKeyLastFour *string `json:"api_key_last_four"`
}

// DeletedDetail is Credential Deleted's detail.
type DeletedDetail struct {
	Base
	DisplayName string `json:"display_name"`
	HadAPIKey   bool   `json:"had_api_key"`
}

// HealthChangedDetail is Credential Health Changed's detail. Status and
// PreviousStatus are equal (both failing) for a new failing run: another
// error_code, or the same after a key or base URL change (the new key
// fails too).
type HealthChangedDetail struct {
	Base
	Status            string  `json:"status"`
	PreviousStatus    string  `json:"previous_status"`
	ErrorCode         *string `json:"error_code"`
	PreviousErrorCode *string `json:"previous_error_code"`
	FailingSince      *string `json:"failing_since"`
	LastOKAt          *string `json:"last_ok_at"`
	CheckedAt         *string `json:"checked_at"`
}

// QuotaLowDetail is Credential Quota Low's detail: the window whose
// remaining fell under QuotaLowPercent of its limit, that remaining as a
// percentage of the limit (one decimal), and when the window resets.
type QuotaLowDetail struct {
	Base
	Window       string   `json:"window"`
	RemainingPct *float64 `json:"remaining_pct"`
	ResetAt      string   `json:"reset_at"`
}

// KeyStaleDetail is Credential Key Stale's detail: a probe found the key
// older than KEY_MAX_AGE_DAYS (once per key).
type KeyStaleDetail struct {
	Base
	APIKeyLastFour  *string `json:"api_key_last_four"`
	APIKeyUpdatedAt *string `json:"api_key_updated_at"`
}

// Health statuses of a credential item's health_status (absent: unknown).
const (
	StatusOK      = "ok"
	StatusFailing = "failing"
	StatusUnknown = "unknown"
)

// Map turns one stream record into the events it publishes (none for a
// record that changes nothing a reader sees). Each event's id is the
// record's event id and the event's kind: stable across redeliveries.
func Map(r events.DynamoDBEventRecord) ([]Event, error) {
	if !Relevant(r) {
		return nil, nil
	}
	if r.EventID == "" {
		return nil, fmt.Errorf("changefeed: stream record %s has no eventID", r.Change.SequenceNumber)
	}
	old, cur := r.Change.OldImage, r.Change.NewImage
	at := recordTime(r)
	switch events.DynamoDBOperationType(r.EventName) {
	case events.DynamoDBOperationTypeInsert:
		if cur == nil {
			return nil, fmt.Errorf("changefeed: INSERT %s carries no new image (want NEW_AND_OLD_IMAGES)", r.EventID)
		}
		b := base(r, "created", cur, str(cur, "created_by"), timeOr(cur, "created_at", at))
		return []Event{{DetailType: TypeCreated, Time: b.at(), Detail: CreatedDetail{
			Base: b, DisplayName: str(cur, "display_name"), Active: boolean(cur, "active"),
			HasAPIKey: boolean(cur, "has_api_key"), APIKeyLastFour: optStr(cur, "api_key_last_four"),
			BaseURL: optStr(cur, "base_url"),
		}}}, nil

	case events.DynamoDBOperationTypeRemove:
		if old == nil {
			return nil, fmt.Errorf("changefeed: REMOVE %s carries no old image (want NEW_AND_OLD_IMAGES)", r.EventID)
		}
		// A delete locks first; the lock names who deletes.
		actor := str(old, "key_lock_by")
		b := base(r, "deleted", old, actor, at)
		return []Event{{DetailType: TypeDeleted, Time: b.at(), Detail: DeletedDetail{
			Base: b, DisplayName: str(old, "display_name"), HadAPIKey: boolean(old, "has_api_key"),
		}}}, nil

	case events.DynamoDBOperationTypeModify:
		if old == nil || cur == nil {
			return nil, fmt.Errorf("changefeed: MODIFY %s lacks an image (want NEW_AND_OLD_IMAGES)", r.EventID)
		}
		if sameExcept(old, cur, lockAttributes) {
			return nil, nil // a lock taken, fenced or dropped
		}
		health := mapHealth(r, old, cur)
		if sameExcept(old, cur, lockAndHealthAttributes) {
			return health, nil // a health write: never a credential change
		}
		var out []Event
		actor, when := str(cur, "updated_by"), timeOr(cur, "updated_at", at)
		var changed []string
		for _, f := range []string{"display_name", "active", "base_url"} {
			if !sameAttr(old, cur, f) {
				changed = append(changed, f)
			}
		}
		change := keyChange(old, cur)
		if change == "" || len(changed) > 0 {
			b := base(r, "updated", cur, actor, when)
			out = append(out, Event{DetailType: TypeUpdated, Time: b.at(), Detail: UpdatedDetail{
				Base: b, ChangedFields: nonNil(changed), DisplayName: str(cur, "display_name"),
				Active: boolean(cur, "active"), BaseURL: optStr(cur, "base_url"),
			}})
		}
		if change != "" {
			b := base(r, "key", cur, actor, when)
			out = append(out, Event{DetailType: TypeKeyChanged, Time: b.at(), Detail: KeyChangedDetail{
				Base: b, Change: change, APIKeyLastFour: optStr(cur, "api_key_last_four"),
			}})
		}
		return append(out, health...), nil
	}
	return nil, fmt.Errorf("changefeed: stream record %s: unknown eventName %q", r.EventID, r.EventName)
}

// keyChange says how the key changed between two images of a credential.
func keyChange(old, cur image) string {
	had, has := boolean(old, "has_api_key"), boolean(cur, "has_api_key")
	switch {
	case !had && has:
		return KeySet
	case had && !has:
		return KeyCleared
	case had && has && !sameAttr(old, cur, "key_version"):
		return KeyRotated
	}
	return ""
}

// lockAndHealthAttributes are the attributes a lock or a health write
// changes: images equal but for them are no credential change.
var lockAndHealthAttributes = append(append([]string(nil), lockAttributes...), healthAttributes...)

// healthStatus reads an image's health_status: ok, failing or unknown.
func healthStatus(im image) string {
	if s := str(im, attrHealthStatus); s == StatusOK || s == StatusFailing {
		return s
	}
	return StatusUnknown
}

// mapHealth derives the health events of a MODIFY of a credential item
// from its health attributes (dynamo.HealthAttrs). Health Changed when the
// status moves between ok and failing, except a first ok (from unknown),
// which is not news, and a move to unknown (health cleared), which says
// nothing; and when it stays failing but health_code, health_fingerprint
// or failing_since changed: a new failing run, for another reason or with
// another key or base URL. A changed last_ok_at or health_checked_at alone
// (the coarse refresh of a healthy key) is no event. Quota Low when the
// new image's (quota_low_window, quota_low_reset_at) is set and differs
// from the old image's: the writer sets it once per window reset.
func mapHealth(r events.DynamoDBEventRecord, old, cur image) []Event {
	var out []Event
	at := recordTime(r)
	was, is := healthStatus(old), healthStatus(cur)
	news := false
	switch {
	case is == StatusUnknown:
	case is != was:
		news = !(is == StatusOK && was == StatusUnknown)
	case is == StatusFailing:
		news = !sameAttr(old, cur, attrHealthCode) || !sameAttr(old, cur, attrHealthFingerprint) || !sameAttr(old, cur, attrFailingSince)
	}
	if news {
		b := healthBase(r, "health", cur, timeOr(cur, attrHealthCheckedAt, at))
		out = append(out, Event{DetailType: TypeHealthChanged, Time: b.at(), Detail: HealthChangedDetail{
			Base: b, Status: is, PreviousStatus: was, ErrorCode: optStr(cur, attrHealthCode),
			PreviousErrorCode: optStr(old, attrHealthCode), FailingSince: optStr(cur, attrFailingSince),
			LastOKAt: optStr(cur, attrLastOKAt), CheckedAt: optStr(cur, attrHealthCheckedAt),
		}})
	}
	window, reset := str(cur, attrQuotaLowWindow), str(cur, attrQuotaLowResetAt)
	if window != "" && reset != "" && (window != str(old, attrQuotaLowWindow) || reset != str(old, attrQuotaLowResetAt)) {
		b := healthBase(r, "quota:"+window+":"+reset, cur, timeOr(cur, attrHealthCheckedAt, at))
		d := QuotaLowDetail{Base: b, Window: window, ResetAt: reset}
		if pct, ok := float(cur, attrQuotaLowPct); ok {
			d.RemainingPct = &pct
		}
		out = append(out, Event{DetailType: TypeQuotaLow, Time: b.at(), Detail: d})
	}
	// Key Stale when the marker appears: the writer sets it once per key
	// (a new key's health starts unmarked).
	if boolean(cur, attrHealthStaleKey) && !boolean(old, attrHealthStaleKey) {
		b := healthBase(r, "stale", cur, timeOr(cur, attrHealthCheckedAt, at))
		out = append(out, Event{DetailType: TypeKeyStale, Time: b.at(), Detail: KeyStaleDetail{
			Base: b, APIKeyLastFour: optStr(cur, "api_key_last_four"), APIKeyUpdatedAt: optStr(cur, "api_key_updated_at"),
		}})
	}
	return out
}

// healthBase is base for a health or quota event: no actor (the system
// found it) and no revision (a health write never bumps it).
func healthBase(r events.DynamoDBEventRecord, kind string, im image, at time.Time) Base {
	b := base(r, kind, im, "", at)
	b.Revision = 0
	return b
}

// base fills the common detail from an image of the item. id is the
// record's event id and the event's kind.
func base(r events.DynamoDBEventRecord, kind string, im image, actor string, at time.Time) Base {
	b := Base{
		EventID: r.EventID + ":" + kind, OrgID: str(im, "pk"), CredentialID: str(im, "id"),
		Provider: str(im, "provider"), AccountKey: str(im, "account_key"), Time: at.UTC().Format(time.RFC3339Nano),
	}
	if b.CredentialID == "" {
		b.CredentialID = str(im, "credential_id")
	}
	if actor != "" {
		b.Actor = &actor
	}
	if n, ok := num(im, "revision"); ok {
		b.Revision = n
	}
	return b
}

func (b Base) at() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, b.Time)
	return t
}

// recordTime is when DynamoDB wrote the record (second precision), or now.
func recordTime(r events.DynamoDBEventRecord) time.Time {
	if t := r.Change.ApproximateCreationDateTime.Time; !t.IsZero() && t.Unix() > 0 {
		return t
	}
	return time.Now()
}

// timeOr reads an RFC 3339 attribute, or returns def.
func timeOr(im image, name string, def time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, str(im, name)); err == nil {
		return t
	}
	return def
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
