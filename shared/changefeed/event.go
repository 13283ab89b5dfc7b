package changefeed

import (
	"fmt"
	"strings"
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

// HealthChangedDetail is Credential Health Changed's detail.
type HealthChangedDetail struct {
	Base
	Status         string  `json:"status"`
	PreviousStatus string  `json:"previous_status"`
	ErrorCode      *string `json:"error_code"`
	FailingSince   *string `json:"failing_since"`
	LastOKAt       *string `json:"last_ok_at"`
	CheckedAt      *string `json:"checked_at"`
}

// QuotaLowDetail is Credential Quota Low's detail.
type QuotaLowDetail struct {
	Base
	Window    string `json:"window"`
	Remaining *int64 `json:"remaining"`
	Limit     *int64 `json:"limit"`
	ResetAt   string `json:"reset_at"`
}

// Health statuses of the health item.
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
	_, sk := keyOf(r)
	old, cur := r.Change.OldImage, r.Change.NewImage
	if strings.HasPrefix(sk, healthPrefix) {
		return mapHealth(r, old, cur), nil
	}
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
		return out, nil
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

func mapHealth(r events.DynamoDBEventRecord, old, cur image) []Event {
	if cur == nil { // removed with its credential: the delete says it
		return nil
	}
	var out []Event
	at := recordTime(r)
	was, is := str(old, "status"), str(cur, "status")
	if was == "" {
		was = StatusUnknown
	}
	firstOK := is == StatusOK && was == StatusUnknown
	if (is == StatusOK || is == StatusFailing) && is != was && !firstOK {
		b := base(r, "health", cur, "", timeOr(cur, "checked_at", at))
		out = append(out, Event{DetailType: TypeHealthChanged, Time: b.at(), Detail: HealthChangedDetail{
			Base: b, Status: is, PreviousStatus: was, ErrorCode: optStr(cur, "error_code"),
			FailingSince: optStr(cur, "failing_since"), LastOKAt: optStr(cur, "last_ok_at"),
			CheckedAt: optStr(cur, "checked_at"),
		}})
	}
	window, reset := str(cur, "quota_low_window"), str(cur, "quota_low_reset_at")
	if window != "" && (window != str(old, "quota_low_window") || reset != str(old, "quota_low_reset_at")) {
		b := base(r, "quota:"+window+":"+reset, cur, "", timeOr(cur, "quota_low_at", at))
		d := QuotaLowDetail{Base: b, Window: window, ResetAt: reset}
		if n, ok := num(cur, "quota_low_remaining"); ok {
			d.Remaining = &n
		}
		if n, ok := num(cur, "quota_low_limit"); ok {
			d.Limit = &n
		}
		out = append(out, Event{DetailType: TypeQuotaLow, Time: b.at(), Detail: d})
	}
	return out
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
