package changefeed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/acme/provider-credentials/shared/dynamo"
)

// img builds an image from Go values as the stream carries them.
func img(kv map[string]any) image {
	im := image{}
	for k, v := range kv {
		switch v := v.(type) {
		case string:
			im[k] = events.NewStringAttribute(v)
		case bool:
			im[k] = events.NewBooleanAttribute(v)
		case int, float64:
			im[k] = events.NewNumberAttribute(fmt.Sprint(v))
		default:
			panic(fmt.Sprintf("img: %T", v))
		}
	}
	return im
}

// with returns a copy of base with kv applied; a nil value removes.
func with(base map[string]any, kv map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range kv {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

const secretKey = "sk-live-secret-material-9Zq1"

var cred = map[string]any{
	"pk": "org-a", "sk": "CRED#c-1", "kind": "credential", "id": "c-1", "org_id": "org-a",
	"provider": "openai", "account_key": "prod", "display_name": "Prod", "active": true,
	"has_api_key": true, "api_key_last_four": "9Zq1", "secret_name": "provider-credentials/org-a/c-1",
	"key_version": "kv-current-version", "created_at": "2026-05-20T22:03:57.123456Z", "updated_at": "2026-05-20T22:03:57.123456Z",
	"created_by": "alice", "updated_by": "alice", "revision": 1,
}

var seq = 100

func rec(name string, old, cur map[string]any) events.DynamoDBEventRecord {
	seq++
	r := events.DynamoDBEventRecord{EventID: fmt.Sprintf("ev-%d", seq), EventName: name, EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{SequenceNumber: fmt.Sprint(seq), StreamViewType: "NEW_AND_OLD_IMAGES",
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: time.Unix(1779314637, 0)}}}
	k := cur
	if k == nil {
		k = old
	}
	r.Change.Keys = img(map[string]any{"pk": k["pk"], "sk": k["sk"]})
	if old != nil {
		r.Change.OldImage = img(old)
	}
	if cur != nil {
		r.Change.NewImage = img(cur)
	}
	return r
}

func types(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.DetailType)
	}
	return out
}

func TestMapCredentialChanges(t *testing.T) {
	locked := with(cred, map[string]any{"key_lock": "tok", "key_lock_until": 1779314700000, "key_lock_by": "bob"})
	bump := map[string]any{"revision": 2, "updated_at": "2026-05-20T22:05:00.000000Z", "updated_by": "bob"}
	for _, tc := range []struct {
		name     string
		r        events.DynamoDBEventRecord
		want     []string
		check    func(t *testing.T, evs []Event)
		wantNone bool
	}{
		{name: "insert", r: rec("INSERT", nil, cred), want: []string{TypeCreated}, check: func(t *testing.T, evs []Event) {
			d := evs[0].Detail.(CreatedDetail)
			if d.Actor == nil || *d.Actor != "alice" || !d.HasAPIKey || d.APIKeyLastFour == nil || *d.APIKeyLastFour != "9Zq1" || d.Revision != 1 {
				t.Errorf("created detail = %+v", d)
			}
		}},
		{name: "display name", r: rec("MODIFY", cred, with(with(cred, bump), map[string]any{"display_name": "Production"})),
			want: []string{TypeUpdated}, check: func(t *testing.T, evs []Event) {
				d := evs[0].Detail.(UpdatedDetail)
				if !reflect.DeepEqual(d.ChangedFields, []string{"display_name"}) || d.DisplayName != "Production" || *d.Actor != "bob" || d.Revision != 2 {
					t.Errorf("updated detail = %+v", d)
				}
			}},
		{name: "active and base url", r: rec("MODIFY", cred, with(with(cred, bump), map[string]any{"active": false, "base_url": "https://x.example/v1"})),
			want: []string{TypeUpdated}, check: func(t *testing.T, evs []Event) {
				if got := evs[0].Detail.(UpdatedDetail).ChangedFields; !reflect.DeepEqual(got, []string{"active", "base_url"}) {
					t.Errorf("changed_fields = %v", got)
				}
			}},
		{name: "empty patch", r: rec("MODIFY", cred, with(cred, bump)), want: []string{TypeUpdated}},
		{name: "rotate (the locked write lands)", r: rec("MODIFY", locked, with(with(cred, bump), map[string]any{"key_version": "v-2", "api_key_last_four": "abcd"})),
			want: []string{TypeKeyChanged}, check: func(t *testing.T, evs []Event) {
				d := evs[0].Detail.(KeyChangedDetail)
				if d.Change != KeyRotated || *d.APIKeyLastFour != "abcd" || *d.Actor != "bob" {
					t.Errorf("key detail = %+v", d)
				}
			}},
		{name: "clear", r: rec("MODIFY", locked, with(with(cred, bump), map[string]any{"has_api_key": false, "key_version": nil, "secret_name": nil, "api_key_last_four": nil})),
			want: []string{TypeKeyChanged}, check: func(t *testing.T, evs []Event) {
				if d := evs[0].Detail.(KeyChangedDetail); d.Change != KeyCleared || d.APIKeyLastFour != nil {
					t.Errorf("key detail = %+v", d)
				}
			}},
		{name: "set and rename", r: rec("MODIFY", with(cred, map[string]any{"has_api_key": false, "key_version": nil, "api_key_last_four": nil}),
			with(with(cred, bump), map[string]any{"display_name": "New"})),
			want: []string{TypeUpdated, TypeKeyChanged}, check: func(t *testing.T, evs []Event) {
				if d := evs[1].Detail.(KeyChangedDetail); d.Change != KeySet {
					t.Errorf("change = %q, want set", d.Change)
				}
				if evs[0].Detail.(UpdatedDetail).EventID == evs[1].Detail.(KeyChangedDetail).EventID {
					t.Error("two events of one record share an event_id")
				}
			}},
		{name: "lock", r: rec("MODIFY", cred, locked), wantNone: true},
		{name: "fence", r: rec("MODIFY", locked, with(locked, map[string]any{"key_lock": "tok/fenced"})), wantNone: true},
		{name: "unlock", r: rec("MODIFY", locked, cred), wantNone: true},
		{name: "delete", r: rec("REMOVE", locked, nil), want: []string{TypeDeleted}, check: func(t *testing.T, evs []Event) {
			d := evs[0].Detail.(DeletedDetail)
			if *d.Actor != "bob" || !d.HadAPIKey || d.CredentialID != "c-1" || d.OrgID != "org-a" {
				t.Errorf("deleted detail = %+v", d)
			}
		}},
		{name: "guard", r: rec("INSERT", nil, map[string]any{"pk": "org-a", "sk": "UNIQ#openai#prod", "kind": "guard", "credential_id": "c-1"}), wantNone: true},
		{name: "refresh cursor", r: rec("MODIFY", map[string]any{"pk": "#refresh", "sk": "CURSOR#0/1", "position": "a"},
			map[string]any{"pk": "#refresh", "sk": "CURSOR#0/1", "position": "b"}), wantNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Map(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNone {
				if len(evs) != 0 {
					t.Fatalf("got %v, want no events", types(evs))
				}
				return
			}
			if got := types(evs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %v, want %v", got, tc.want)
			}
			for _, e := range evs {
				b, _ := json.Marshal(e.Detail)
				for _, bad := range []string{"secret_name", "provider-credentials/org-a", "key_version", "kv-current", "key_lock", "tok"} {
					if strings.Contains(string(b), bad) {
						t.Errorf("%s detail %s holds %q", e.DetailType, b, bad)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, evs)
			}
		})
	}
}

// healthOK is a credential item whose key a probe found working.
var healthOK = with(cred, map[string]any{
	"health_status": "ok", "health_fingerprint": "fp-1", "last_ok_at": "2026-05-20T22:00:00Z", "health_checked_at": "2026-05-20T22:00:00Z",
})

func TestMapHealth(t *testing.T) {
	failing := with(healthOK, map[string]any{"health_status": "failing", "health_code": "invalid_key",
		"failing_since": "2026-05-20T22:05:00Z", "health_checked_at": "2026-05-20T22:05:00Z"})
	low := with(healthOK, map[string]any{"quota_low_window": "requests", "quota_low_reset_at": "2026-05-21T00:00:00Z",
		"quota_low_pct": 4.2, "health_checked_at": "2026-05-20T22:10:00Z"})
	locked := map[string]any{"key_lock": "lock-token-9f3", "key_lock_until": 1779314700000, "key_lock_by": "bob"}
	bump := map[string]any{"revision": 2, "updated_at": "2026-05-20T22:20:00.000000Z", "updated_by": "bob"}
	rotated := map[string]any{"key_version": "kv-next-version", "api_key_last_four": "abcd"}
	for _, tc := range []struct {
		name string
		r    events.DynamoDBEventRecord
		want []string
	}{
		{"first check ok", rec("MODIFY", cred, healthOK), nil},
		{"first check failing", rec("MODIFY", cred, failing), []string{TypeHealthChanged}},
		{"ok to failing", rec("MODIFY", healthOK, failing), []string{TypeHealthChanged}},
		{"still failing, checked again", rec("MODIFY", failing, with(failing, map[string]any{"health_checked_at": "2026-05-20T22:10:00Z"})), nil},
		{"failing for another reason", rec("MODIFY", failing, with(failing, map[string]any{"health_code": "insufficient_quota"})), []string{TypeHealthChanged}},
		{"failing with a new key", rec("MODIFY", with(failing, rotated), with(with(failing, rotated), map[string]any{
			"health_fingerprint": "fp-2", "failing_since": "2026-05-20T22:30:00Z"})), []string{TypeHealthChanged}},
		{"failing to ok", rec("MODIFY", failing, with(healthOK, map[string]any{"last_ok_at": "2026-05-20T22:15:00Z"})), []string{TypeHealthChanged}},
		{"ok, last_ok_at refreshed", rec("MODIFY", healthOK, with(healthOK, map[string]any{"last_ok_at": "2026-05-20T23:00:00Z", "health_checked_at": "2026-05-20T23:00:00Z"})), nil},
		{"ok with a new key", rec("MODIFY", with(healthOK, rotated), with(with(healthOK, rotated), map[string]any{"health_fingerprint": "fp-2"})), nil},
		{"health cleared", rec("MODIFY", failing, cred), nil},
		{"quota low", rec("MODIFY", healthOK, low), []string{TypeQuotaLow}},
		{"key found stale", rec("MODIFY", healthOK, with(healthOK, map[string]any{"health_stale_key": true})), []string{TypeKeyStale}},
		{"still stale", rec("MODIFY", with(healthOK, map[string]any{"health_stale_key": true}), with(healthOK, map[string]any{"health_stale_key": true, "last_ok_at": "2026-05-20T23:15:00Z"})), nil},
		{"quota low again in the same window", rec("MODIFY", low, with(low, map[string]any{"quota_low_pct": 1.5})), nil},
		{"quota low in the next window", rec("MODIFY", low, with(low, map[string]any{"quota_low_reset_at": "2026-05-21T01:00:00Z"})), []string{TypeQuotaLow}},
		{"quota low in another window", rec("MODIFY", low, with(low, map[string]any{"quota_low_window": "tokens"})), []string{TypeQuotaLow}},
		{"quota marker cleared", rec("MODIFY", low, healthOK), nil},
		{"failing and low together", rec("MODIFY", healthOK, with(low, map[string]any{"health_status": "failing", "health_code": "rate_limited",
			"failing_since": "2026-05-20T22:10:00Z"})), []string{TypeHealthChanged, TypeQuotaLow}},
		{"health write under a stale lock", rec("MODIFY", with(healthOK, locked), with(failing, locked)), []string{TypeHealthChanged}},
		{"credential change carrying the same health", rec("MODIFY", failing, with(failing, with(bump, map[string]any{"display_name": "New"}))), []string{TypeUpdated}},
		{"key rotation carrying the old key's health", rec("MODIFY", with(low, locked), with(with(low, bump), rotated)), []string{TypeKeyChanged}},
		{"created", rec("INSERT", nil, cred), []string{TypeCreated}},
		{"deleted while failing", rec("REMOVE", with(failing, locked), nil), []string{TypeDeleted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Map(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := types(evs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %v, want %v", got, tc.want)
			}
			for _, e := range evs {
				b, _ := json.Marshal(e.Detail)
				for _, bad := range []string{"secret_name", "provider-credentials/org-a", "key_version", "kv-current", "kv-next", "fp-", "fingerprint", "key_lock", "lock-token"} {
					if strings.Contains(string(b), bad) {
						t.Errorf("%s detail %s holds %q", e.DetailType, b, bad)
					}
				}
			}
		})
	}

	evs, _ := Map(rec("MODIFY", healthOK, failing))
	d := evs[0].Detail.(HealthChangedDetail)
	if d.Status != "failing" || d.PreviousStatus != "ok" || d.ErrorCode == nil || *d.ErrorCode != "invalid_key" || d.PreviousErrorCode != nil ||
		d.FailingSince == nil || *d.FailingSince != "2026-05-20T22:05:00Z" || d.LastOKAt == nil || *d.LastOKAt != "2026-05-20T22:00:00Z" ||
		d.CredentialID != "c-1" || d.OrgID != "org-a" || d.Provider != "openai" || d.AccountKey != "prod" || d.Actor != nil || d.Revision != 0 ||
		d.Time != "2026-05-20T22:05:00Z" || evs[0].Time != time.Date(2026, 5, 20, 22, 5, 0, 0, time.UTC) || d.EventID != "ev-"+fmt.Sprint(seq)+":health" {
		t.Errorf("failing detail = %+v", d)
	}
	evs, _ = Map(rec("MODIFY", failing, with(failing, map[string]any{"health_code": "insufficient_quota"})))
	if d := evs[0].Detail.(HealthChangedDetail); d.PreviousStatus != "failing" || *d.ErrorCode != "insufficient_quota" || *d.PreviousErrorCode != "invalid_key" {
		t.Errorf("failing again detail = %+v", d)
	}
	evs, _ = Map(rec("MODIFY", failing, healthOK))
	if d := evs[0].Detail.(HealthChangedDetail); d.Status != "ok" || d.PreviousStatus != "failing" || d.ErrorCode != nil || d.FailingSince != nil || *d.PreviousErrorCode != "invalid_key" {
		t.Errorf("recovered detail = %+v", d)
	}
	evs, _ = Map(rec("MODIFY", healthOK, low))
	q := evs[0].Detail.(QuotaLowDetail)
	if q.Window != "requests" || q.RemainingPct == nil || *q.RemainingPct != 4.2 || q.ResetAt != "2026-05-21T00:00:00Z" || q.Time != "2026-05-20T22:10:00Z" ||
		q.Actor != nil || q.Revision != 0 || q.CredentialID != "c-1" || !strings.HasSuffix(q.EventID, ":quota:requests:2026-05-21T00:00:00Z") {
		t.Errorf("quota detail = %+v", q)
	}
	if b, _ := json.Marshal(q); !strings.Contains(string(b), `"remaining_pct":4.2`) {
		t.Errorf("quota detail %s lacks remaining_pct", b)
	}
}

func TestLockAttributesMatchTheStore(t *testing.T) {
	if !slices.Equal(lockAttributes, dynamo.LockAttributes) {
		t.Errorf("lock attributes = %v, want dynamo's %v", lockAttributes, dynamo.LockAttributes)
	}
}

func TestHealthAttributesMatchTheStore(t *testing.T) {
	if !slices.Equal(healthAttributes, dynamo.HealthAttrs) {
		t.Errorf("health attributes = %v, want dynamo's %v", healthAttributes, dynamo.HealthAttrs)
	}
	for got, want := range map[string]string{
		attrHealthStatus: dynamo.AttrHealthStatus, attrHealthCode: dynamo.AttrHealthCode, attrFailingSince: dynamo.AttrFailingSince,
		attrLastOKAt: dynamo.AttrLastOKAt, attrHealthCheckedAt: dynamo.AttrHealthCheckedAt, attrHealthFingerprint: dynamo.AttrHealthFingerprint,
		attrQuotaLowWindow: dynamo.AttrQuotaLowWindow, attrQuotaLowPct: dynamo.AttrQuotaLowPct, attrQuotaLowResetAt: dynamo.AttrQuotaLowResetAt,
		attrHealthStaleKey: dynamo.AttrHealthStaleKey,
	} {
		if got != want {
			t.Errorf("attribute %q, dynamo's is %q", got, want)
		}
	}
}

// fakeBus records PutEvents calls and fails entries on request.
type fakeBus struct {
	calls   [][]ebtypes.PutEventsRequestEntry
	failAt  map[int]bool // entry number (over all calls, from 0) → fail it
	callErr bool
	n       int
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if len(in.Entries) > maxEntries {
		return nil, fmt.Errorf("%d entries, over %d", len(in.Entries), maxEntries)
	}
	if f.callErr {
		return nil, fmt.Errorf("injected")
	}
	f.calls = append(f.calls, in.Entries)
	out := &eventbridge.PutEventsOutput{}
	for range in.Entries {
		if f.failAt[f.n] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("injected")})
		} else {
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("id-", f.n))})
		}
		f.n++
	}
	return out, nil
}

func batch(n int) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for i := range n {
		c := with(cred, map[string]any{"sk": fmt.Sprintf("CRED#c-%d", i), "id": fmt.Sprintf("c-%d", i)})
		ev.Records = append(ev.Records, rec("INSERT", nil, c))
		// a guard in between: no event, but it is a record of the batch
		ev.Records = append(ev.Records, rec("INSERT", nil, map[string]any{"pk": "org-a", "sk": fmt.Sprintf("UNIQ#openai#%d", i)}))
	}
	return ev
}

func seqs(r events.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func ids(calls [][]ebtypes.PutEventsRequestEntry) []string {
	var out []string
	for _, c := range calls {
		for _, e := range c {
			var b Base
			_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &b)
			out = append(out, b.EventID)
		}
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHandleBatchesAndReportsFailures(t *testing.T) {
	ctx := context.Background()
	ev := batch(25) // 50 records, 25 events
	cfg := Config{Bus: "bus-1", Source: "test.source"}

	bus := &fakeBus{}
	resp, err := New(bus, cfg, quiet()).Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %v, %v; want no failures", seqs(resp), err)
	}
	if len(bus.calls) != 3 || len(bus.calls[0]) != 10 || len(bus.calls[2]) != 5 {
		t.Errorf("calls of %d entries, want 10, 10, 5", len(bus.calls))
	}
	e := bus.calls[0][0]
	if aws.ToString(e.EventBusName) != "bus-1" || aws.ToString(e.Source) != "test.source" || aws.ToString(e.DetailType) != TypeCreated {
		t.Errorf("entry = bus %s source %s type %s", aws.ToString(e.EventBusName), aws.ToString(e.Source), aws.ToString(e.DetailType))
	}
	first := ids(bus.calls)

	// The same batch again: the same ids.
	again := &fakeBus{}
	_, _ = New(again, cfg, quiet()).Handle(ctx, ev)
	if !reflect.DeepEqual(ids(again.calls), first) {
		t.Errorf("redelivered batch: ids differ")
	}

	// Entry 13 (record 26, the 14th credential) fails: it and every
	// record after it are reported, and nothing after its call is sent.
	failing := &fakeBus{failAt: map[int]bool{13: true}}
	resp, _ = New(failing, cfg, quiet()).Handle(ctx, ev)
	var want []string
	for _, r := range ev.Records[26:] {
		want = append(want, r.Change.SequenceNumber)
	}
	if got := seqs(resp); !reflect.DeepEqual(got, want) {
		t.Errorf("failures = %v, want %v", got, want)
	}
	if len(failing.calls) != 2 {
		t.Errorf("%d calls after the failing one's, want none", len(failing.calls)-2)
	}
	// Lambda retries from the failed record: everything gets out, with the
	// ids of the first delivery.
	retry := &fakeBus{}
	resp, _ = New(retry, cfg, quiet()).Handle(ctx, events.DynamoDBEvent{Records: ev.Records[26:]})
	if len(resp.BatchItemFailures) != 0 || !reflect.DeepEqual(ids(retry.calls), first[13:]) {
		t.Errorf("retry: failures %v, ids %v; want none, %v", seqs(resp), ids(retry.calls), first[13:])
	}

	// A whole call failing reports from its first record on.
	resp, _ = New(&fakeBus{callErr: true}, cfg, quiet()).Handle(ctx, ev)
	if len(resp.BatchItemFailures) != len(ev.Records) {
		t.Errorf("call failure: %d records reported, want all %d", len(resp.BatchItemFailures), len(ev.Records))
	}

	// A batch of lock-only writes and guards makes no call at all.
	none := &fakeBus{}
	locked := with(cred, map[string]any{"key_lock": "t", "key_lock_until": 1})
	resp, _ = New(none, cfg, quiet()).Handle(ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		rec("MODIFY", cred, locked), rec("MODIFY", locked, cred), batch(1).Records[1]}})
	if len(none.calls) != 0 || len(resp.BatchItemFailures) != 0 {
		t.Errorf("lock-only batch: %d calls, failures %v; want none", len(none.calls), seqs(resp))
	}
}

func TestHandleSplitsBySize(t *testing.T) {
	big := strings.Repeat("x", 60*1024) // display names are capped far lower; the limit must still hold
	var ev events.DynamoDBEvent
	for i := range 6 {
		ev.Records = append(ev.Records, rec("INSERT", nil, with(cred, map[string]any{"display_name": big, "id": fmt.Sprint(i)})))
	}
	bus := &fakeBus{}
	if _, err := New(bus, Config{Bus: "b", Source: "s"}, quiet()).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for i, c := range bus.calls {
		n := 0
		for _, e := range c {
			n += entrySize(e)
		}
		if n > maxBytes {
			t.Errorf("call %d: %d bytes, over %d", i, n, maxBytes)
		}
	}
	if len(bus.calls) < 2 {
		t.Errorf("%d calls for 360 KB of events, want at least 2", len(bus.calls))
	}
}

func TestNoKeyMaterialInAnyEvent(t *testing.T) {
	// Even were a key's bytes in an attribute the feed does not publish
	// (they never are), no detail could carry them: details are built
	// field by field.
	withKey := with(cred, map[string]any{"secret_name": "p/" + secretKey, "key_version": secretKey})
	bus := &fakeBus{}
	_, _ = New(bus, Config{Bus: "b", Source: "s"}, quiet()).Handle(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		rec("INSERT", nil, withKey), rec("MODIFY", withKey, with(withKey, map[string]any{"key_version": secretKey + "2", "revision": 2})),
		rec("REMOVE", withKey, nil)}})
	if len(bus.calls) != 1 || len(bus.calls[0]) != 3 {
		t.Fatalf("calls = %v, want one of 3 entries", bus.calls)
	}
	for _, e := range bus.calls[0] {
		if strings.Contains(aws.ToString(e.Detail), secretKey[3:12]) {
			t.Errorf("%s detail holds key material: %s", aws.ToString(e.DetailType), aws.ToString(e.Detail))
		}
	}
}
