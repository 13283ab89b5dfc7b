package templatecheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/changefeed"
	"github.com/acme/provider-credentials/shared/dev/awstest"
)

// TestStreamFilterKeepsEveryPublishedChange applies the publisher's
// FilterCriteria (the subset of Lambda's filter syntax it uses: exact
// strings, prefix, exists) to every record of events/publish-events/: a
// record that publishes an event must pass the filter, and the lock and
// fence writes, guards and cursors the filter is there for must not.
func TestStreamFilterKeepsEveryPublishedChange(t *testing.T) {
	tpl := load(t)
	fn, ok := tpl.Function("PublishEventsFunction")
	if !ok {
		t.Fatal("template.yaml has no PublishEventsFunction")
	}
	var patterns []map[string]any
	for _, ev := range fn.Events {
		if ev.Type != "DynamoDB" {
			continue
		}
		fc, _ := ev.Properties["FilterCriteria"].(map[string]any)
		filters, _ := fc["Filters"].([]any)
		for _, f := range filters {
			s, _ := f.(map[string]any)["Pattern"].(string)
			var p map[string]any
			if err := json.Unmarshal([]byte(s), &p); err != nil {
				t.Fatalf("filter pattern %q: %v", s, err)
			}
			patterns = append(patterns, p)
		}
		if rt, _ := ev.Properties["FunctionResponseTypes"].([]any); len(rt) != 1 || rt[0] != "ReportBatchItemFailures" {
			t.Errorf("FunctionResponseTypes = %v, want [ReportBatchItemFailures]", rt)
		}
	}
	if len(patterns) == 0 {
		t.Fatal("PublishEventsFunction has no stream filter")
	}
	files, _ := filepath.Glob(filepath.Join(awstest.RepoRoot(), "events", "publish-events", "*.json"))
	passed, dropped := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var batch struct{ Records []map[string]any }
		var ev events.DynamoDBEvent
		if json.Unmarshal(raw, &batch) != nil || json.Unmarshal(raw, &ev) != nil {
			t.Fatalf("%s: not a stream batch", f)
		}
		for i, r := range batch.Records {
			pass := false
			for _, p := range patterns {
				pass = pass || matches(p, r)
			}
			evs, err := changefeed.Map(ev.Records[i])
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f) + " record " + ev.Records[i].EventName + " " + ev.Records[i].Change.Keys["sk"].String()
			if len(evs) > 0 && !pass {
				t.Errorf("%s publishes %d events, but the stream filter drops it", name, len(evs))
			}
			_, locked := ev.Records[i].Change.NewImage["key_lock"]
			if pass && (locked || !changefeed.Relevant(ev.Records[i])) {
				t.Errorf("%s passes the stream filter; a lock write, guard or cursor should not", name)
			}
			if pass {
				passed++
			} else {
				dropped++
			}
		}
	}
	if passed == 0 || dropped == 0 {
		t.Errorf("%d records passed and %d were dropped: want samples of both", passed, dropped)
	}
}

// matches applies a Lambda event filter pattern to a record as JSON.
func matches(pattern map[string]any, v map[string]any) bool {
	for k, want := range pattern {
		got, present := v[k]
		switch w := want.(type) {
		case map[string]any:
			sub, _ := got.(map[string]any)
			if sub == nil {
				sub = map[string]any{}
			}
			if !matches(w, sub) {
				return false
			}
		case []any:
			if !leaf(w, got, present) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func leaf(rules []any, got any, present bool) bool {
	s, _ := got.(string)
	for _, r := range rules {
		switch r := r.(type) {
		case string:
			if present && s == r {
				return true
			}
		case map[string]any:
			if p, ok := r["prefix"].(string); ok && present && strings.HasPrefix(s, p) {
				return true
			}
			if e, ok := r["exists"].(bool); ok && e == present {
				return true
			}
		}
	}
	return false
}
