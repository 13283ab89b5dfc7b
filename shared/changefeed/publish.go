package changefeed

import (
	"context"
	"encoding/json"

	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEventsAPI is the EventBridge call the publisher makes.
type PutEventsAPI interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Config says where events go.
type Config struct {
	Bus    string // event bus name or ARN; default "default"
	Source string // the events' source; default DefaultSource
}

// DefaultSource is the events' source unless EVENT_SOURCE says otherwise.
const DefaultSource = "provider-credentials"

// LoadConfig reads EVENT_BUS_NAME and EVENT_SOURCE.
func LoadConfig(getenv func(string) string) Config {
	c := Config{Bus: getenv("EVENT_BUS_NAME"), Source: getenv("EVENT_SOURCE")}
	if c.Bus == "" {
		c.Bus = "default"
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	return c
}

// PutEvents limits: entries per call and bytes per call (AWS's own
// accounting of an entry's size, see entrySize).
const (
	maxEntries = 10
	maxBytes   = 256 * 1024
)

// Publisher turns stream batches into EventBridge events.
type Publisher struct {
	api PutEventsAPI
	cfg Config
	log *slog.Logger
}

// New returns a Publisher putting events through api.
func New(api PutEventsAPI, cfg Config, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{api: api, cfg: cfg, log: log}
}

// entry is one PutEvents entry and the batch record it comes from.
type entry struct {
	e      ebtypes.PutEventsRequestEntry
	record int
	size   int
}

// Handle publishes the events of a batch of stream records, in order. When
// an entry fails (or a whole PutEvents call), the record it came from and
// every record after it are reported as batch item failures: Lambda then
// retries from that record, and since one shard's records are ordered,
// nothing after it is lost. The events of records before it were
// published; a retried record publishes its events again with the same
// event_id. A record that cannot be read (not a credentials-table record)
// is logged and skipped: retrying cannot change it.
func (p *Publisher) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var entries []entry
	for i, r := range ev.Records {
		evs, err := Map(r)
		if err != nil {
			p.log.ErrorContext(ctx, "changefeed: skipping a stream record", "event_id", r.EventID, "sequence", r.Change.SequenceNumber, "err", err)
			continue
		}
		for _, e := range evs {
			detail, err := json.Marshal(e.Detail)
			if err != nil {
				return events.DynamoDBEventResponse{}, fmt.Errorf("changefeed: encode %s: %w", e.DetailType, err)
			}
			en := ebtypes.PutEventsRequestEntry{
				EventBusName: aws.String(p.cfg.Bus), Source: aws.String(p.cfg.Source),
				DetailType: aws.String(e.DetailType), Detail: aws.String(string(detail)), Time: aws.Time(e.Time),
			}
			entries = append(entries, entry{e: en, record: i, size: entrySize(en)})
		}
	}
	failed := -1 // index of the first record whose events did not all go out
	for start := 0; start < len(entries) && failed < 0; {
		end, bytes := start, 0
		for end < len(entries) && end-start < maxEntries && (end == start || bytes+entries[end].size <= maxBytes) {
			bytes += entries[end].size
			end++
		}
		failed = p.put(ctx, entries[start:end])
		start = end
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	if failed >= 0 {
		for _, r := range ev.Records[failed:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		}
	}
	p.log.InfoContext(ctx, "changefeed: batch", "records", len(ev.Records), "events", len(entries), "failed_records", len(resp.BatchItemFailures))
	return resp, nil
}

// put sends one PutEvents call and returns the record index of its first
// failed entry, or -1 when every entry went out.
func (p *Publisher) put(ctx context.Context, chunk []entry) int {
	in := &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, len(chunk))}
	for i, c := range chunk {
		in.Entries[i] = c.e
	}
	out, err := p.api.PutEvents(ctx, in)
	if err != nil {
		p.log.ErrorContext(ctx, "changefeed: PutEvents failed", "entries", len(chunk), "err", err)
		return chunk[0].record
	}
	if out.FailedEntryCount == 0 && len(out.Entries) == len(chunk) {
		return -1
	}
	for i, c := range chunk {
		if i >= len(out.Entries) || out.Entries[i].ErrorCode != nil {
			code := ""
			if i < len(out.Entries) {
				code = aws.ToString(out.Entries[i].ErrorCode)
			}
			p.log.ErrorContext(ctx, "changefeed: PutEvents entry failed", "detail_type", aws.ToString(c.e.DetailType),
				"code", code, "failed_entries", out.FailedEntryCount)
			return c.record
		}
	}
	// FailedEntryCount says some failed, yet no entry says which: retry all.
	p.log.ErrorContext(ctx, "changefeed: PutEvents reported failures it did not name", "failed", out.FailedEntryCount)
	return chunk[0].record
}

// entrySize is an entry's size as PutEvents counts it: source, detail
// type, detail and resources in UTF-8 bytes, plus 14 for a time.
func entrySize(e ebtypes.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	if e.Time != nil {
		n += 14
	}
	return n
}
