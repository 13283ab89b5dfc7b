// Package streamfeed does locally what Lambda's DynamoDB event source does
// in AWS: it reads a table's stream (DescribeStream, GetShardIterator,
// GetRecords, here against the emulator), turns each shard's records into
// the events.DynamoDBEvent Lambda would deliver, calls the function's
// handler with it, and on reported batch item failures reads that shard
// again from the first failed record.
package streamfeed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	sttypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// StreamsAPI is the part of the DynamoDB Streams client the reader uses.
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TableAPI finds a table's stream.
type TableAPI interface {
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Handler is a stream function's handler, as lambda.Start is given it.
type Handler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Reader reads one table's stream from its oldest record on.
type Reader struct {
	api    StreamsAPI
	arn    string
	region string
	iters  map[string]*string // shard id → next iterator; nil once the shard is closed and read
}

// Batch is one shard's records, as one invocation delivers them.
type Batch struct {
	Shard string
	Event events.DynamoDBEvent
}

// Open finds table's stream and starts reading every shard at its oldest
// record (TRIM_HORIZON, as the template's event source does).
func Open(ctx context.Context, tables TableAPI, api StreamsAPI, table, region string) (*Reader, error) {
	out, err := tables.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return nil, fmt.Errorf("streamfeed: describe table %s: %w", table, err)
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil {
		return nil, fmt.Errorf("streamfeed: table %s has no stream (template.yaml's StreamSpecification)", table)
	}
	return &Reader{api: api, arn: *out.Table.LatestStreamArn, region: region, iters: map[string]*string{}}, nil
}

// StreamARN is the stream's ARN.
func (r *Reader) StreamARN() string { return r.arn }

// Poll reads what is new on every shard: one batch per shard with records.
func (r *Reader) Poll(ctx context.Context) ([]Batch, error) {
	if err := r.discover(ctx); err != nil {
		return nil, err
	}
	var out []Batch
	for shard, it := range r.iters {
		if it == nil {
			continue
		}
		res, err := r.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it})
		if err != nil {
			return nil, fmt.Errorf("streamfeed: get records of %s: %w", shard, err)
		}
		r.iters[shard] = res.NextShardIterator
		if len(res.Records) == 0 {
			continue
		}
		b := Batch{Shard: shard}
		for _, rec := range res.Records {
			b.Event.Records = append(b.Event.Records, Convert(rec, r.arn, r.region))
		}
		out = append(out, b)
	}
	return out, nil
}

// discover adds the shards it has not seen yet.
func (r *Reader) discover(ctx context.Context) error {
	in := &dynamodbstreams.DescribeStreamInput{StreamArn: &r.arn}
	for {
		out, err := r.api.DescribeStream(ctx, in)
		if err != nil {
			return fmt.Errorf("streamfeed: describe stream: %w", err)
		}
		for _, sh := range out.StreamDescription.Shards {
			id := aws.ToString(sh.ShardId)
			if _, seen := r.iters[id]; seen {
				continue
			}
			if err := r.seek(ctx, id, sttypes.ShardIteratorTypeTrimHorizon, ""); err != nil {
				return err
			}
		}
		if out.StreamDescription.LastEvaluatedShardId == nil {
			return nil
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
}

func (r *Reader) seek(ctx context.Context, shard string, typ sttypes.ShardIteratorType, seq string) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &r.arn, ShardId: &shard, ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = &seq
	}
	out, err := r.api.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("streamfeed: shard iterator of %s: %w", shard, err)
	}
	r.iters[shard] = out.ShardIterator
	return nil
}

// Rewind makes the next Poll read shard again from the record with
// sequence number seq (a reported batch item failure).
func (r *Reader) Rewind(ctx context.Context, shard, seq string) error {
	return r.seek(ctx, shard, sttypes.ShardIteratorTypeAtSequenceNumber, seq)
}

// Deliver hands each batch to h as Lambda would and rewinds the shards
// whose batches reported failures (or failed), so that their records are
// delivered again on the next Poll.
func (r *Reader) Deliver(ctx context.Context, batches []Batch, h Handler) error {
	for _, b := range batches {
		resp, err := h(ctx, b.Event)
		first := ""
		switch {
		case err != nil:
			first = b.Event.Records[0].Change.SequenceNumber
		case len(resp.BatchItemFailures) > 0:
			first = resp.BatchItemFailures[0].ItemIdentifier
		}
		if first == "" {
			continue
		}
		if rerr := r.Rewind(ctx, b.Shard, first); rerr != nil {
			return rerr
		}
		if err != nil {
			return fmt.Errorf("streamfeed: handler: %w", err)
		}
	}
	return nil
}

// Follow polls every interval and delivers what it reads until ctx ends.
// Errors are logged and retried on the next tick.
func (r *Reader) Follow(ctx context.Context, h Handler, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		batches, err := r.Poll(ctx)
		if err == nil {
			err = r.Deliver(ctx, batches, h)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("change feed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Convert turns a stream record as GetRecords returns it into the record
// Lambda delivers to a DynamoDB event source's function.
func Convert(rec sttypes.Record, streamARN, region string) events.DynamoDBEventRecord {
	out := events.DynamoDBEventRecord{
		AWSRegion: cmpOr(aws.ToString(rec.AwsRegion), region), EventID: aws.ToString(rec.EventID),
		EventName: string(rec.EventName), EventSource: cmpOr(aws.ToString(rec.EventSource), "aws:dynamodb"),
		EventVersion: cmpOr(aws.ToString(rec.EventVersion), "1.1"), EventSourceArn: streamARN,
	}
	if d := rec.Dynamodb; d != nil {
		out.Change = events.DynamoDBStreamRecord{
			Keys: image(d.Keys), NewImage: image(d.NewImage), OldImage: image(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber), SizeBytes: aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func image(m map[string]sttypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = attr(v)
	}
	return out
}

func attr(v sttypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *sttypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *sttypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *sttypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value)
	case *sttypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *sttypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	case *sttypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value)
	case *sttypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value)
	case *sttypes.AttributeValueMemberM:
		return events.NewMapAttribute(image(v.Value))
	case *sttypes.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = attr(e)
		}
		return events.NewListAttribute(l)
	}
	return events.NewNullAttribute()
}
