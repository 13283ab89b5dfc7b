package rie_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/rie"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

// isStream reports whether fn is fed by a DynamoDB stream.
func isStream(fn samtemplate.Function) bool {
	for _, ev := range fn.Events {
		if ev.Type == "DynamoDB" {
			return true
		}
	}
	return false
}

// checkStreamEvent checks that an event is a batch as Lambda's DynamoDB
// event source delivers it (with both images, as the table's stream has).
func checkStreamEvent(t *testing.T, name string, raw []byte) {
	t.Helper()
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Errorf("%s: does not decode as a DynamoDB event: %v", name, err)
		return
	}
	if len(ev.Records) == 0 {
		t.Errorf("%s: no Records", name)
	}
	for i, r := range ev.Records {
		c := r.Change
		switch {
		case r.EventSource != "aws:dynamodb" || r.EventSourceArn == "" || r.EventID == "" || r.AWSRegion == "":
			t.Errorf("%s: record %d: eventSource %q, eventSourceARN %q, eventID %q, awsRegion %q; want aws:dynamodb and the rest set", name, i, r.EventSource, r.EventSourceArn, r.EventID, r.AWSRegion)
		case c.SequenceNumber == "" || c.StreamViewType != "NEW_AND_OLD_IMAGES" || c.Keys["pk"].IsNull() || c.Keys["sk"].IsNull():
			t.Errorf("%s: record %d: SequenceNumber %q, StreamViewType %q; want both, and pk and sk in Keys", name, i, c.SequenceNumber, c.StreamViewType)
		}
		switch r.EventName {
		case "INSERT":
			if c.NewImage == nil || c.OldImage != nil {
				t.Errorf("%s: record %d: an INSERT has a new image only", name, i)
			}
		case "MODIFY":
			if c.NewImage == nil || c.OldImage == nil {
				t.Errorf("%s: record %d: a MODIFY has both images", name, i)
			}
		case "REMOVE":
			if c.NewImage != nil || c.OldImage == nil {
				t.Errorf("%s: record %d: a REMOVE has an old image only", name, i)
			}
		default:
			t.Errorf("%s: record %d: eventName %q", name, i, r.EventName)
		}
	}
}

// checkStreamResponse checks a stream function's answer: no function
// error, and batch item failures exactly when a call failed: an injected
// fault is retried (reported), never dropped.
func checkStreamResponse(t *testing.T, what string, event, out []byte, failAt int, calls []awsCall) {
	t.Helper()
	if fe, ok := rie.AsFunctionError(out); ok {
		t.Errorf("%s: got function error %s: %s, want a batch response", what, fe.Type, fe.Message)
		return
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Errorf("%s: response %s: %v", what, out, err)
		return
	}
	var ev events.DynamoDBEvent
	_ = json.Unmarshal(event, &ev)
	switch {
	case failAt == 0 && len(resp.BatchItemFailures) != 0:
		t.Errorf("%s: batch item failures %v, want none", what, resp.BatchItemFailures)
	case failAt > 0 && failAt <= len(calls) && len(resp.BatchItemFailures) == 0:
		t.Errorf("%s: no batch item failures; want the records whose events the failed call carried, and those after", what)
	case len(resp.BatchItemFailures) > 0:
		// The failed records are a tail of the batch, in order.
		tail := ev.Records[len(ev.Records)-len(resp.BatchItemFailures):]
		for i, f := range resp.BatchItemFailures {
			if f.ItemIdentifier != tail[i].Change.SequenceNumber {
				t.Errorf("%s: failure %d is %s, want %s: a failed record and every one after it", what, i, f.ItemIdentifier, tail[i].Change.SequenceNumber)
			}
		}
	}
}
