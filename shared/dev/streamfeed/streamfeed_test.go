package streamfeed_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/streamfeed"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// TestPollDeliverRewind: the emulator's stream of a table made from
// template.yaml gives every write as Lambda would deliver it, with both
// images; a reported batch item failure makes the next poll start again
// at that record.
func TestPollDeliverRewind(t *testing.T) {
	ctx := context.Background()
	env := awstest.New(t)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put := func(sk, v string) {
		t.Helper()
		_, err := env.DDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.CredTable, Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "org"}, "sk": &ddbtypes.AttributeValueMemberS{Value: sk},
			"v": &ddbtypes.AttributeValueMemberS{Value: v}, "n": &ddbtypes.AttributeValueMemberN{Value: "7"},
			"m": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"b": &ddbtypes.AttributeValueMemberBOOL{Value: true}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := streamfeed.Open(ctx, env.DDB, dynamodbstreams.NewFromConfig(cfg), env.CredTable, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		put(fmt.Sprint("CRED#", i), "one")
	}
	put("CRED#0", "two")

	var seen []events.DynamoDBEventRecord
	failAt := 2
	h := func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for i, rec := range ev.Records {
			if len(seen) == failAt {
				failAt = -1
				for _, f := range ev.Records[i:] {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: f.Change.SequenceNumber})
				}
				return resp, nil
			}
			seen = append(seen, rec)
		}
		return resp, nil
	}
	for range 3 {
		batches, err := r.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Deliver(ctx, batches, h); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("handled %d records, want the 5 writes once each", len(seen))
	}
	for i, rec := range seen {
		if i > 0 && rec.Change.SequenceNumber <= seen[i-1].Change.SequenceNumber && len(rec.Change.SequenceNumber) == len(seen[i-1].Change.SequenceNumber) {
			t.Errorf("record %d: sequence %s after %s, want increasing", i, rec.Change.SequenceNumber, seen[i-1].Change.SequenceNumber)
		}
		if rec.EventSource != "aws:dynamodb" || rec.EventSourceArn != r.StreamARN() || rec.EventID == "" {
			t.Errorf("record %d: source %q arn %q id %q", i, rec.EventSource, rec.EventSourceArn, rec.EventID)
		}
	}
	last := seen[4]
	if last.EventName != "MODIFY" || last.Change.OldImage["v"].String() != "one" || last.Change.NewImage["v"].String() != "two" ||
		last.Change.NewImage["n"].Number() != "7" || !last.Change.NewImage["m"].Map()["b"].Boolean() || last.Change.Keys["sk"].String() != "CRED#0" {
		t.Errorf("last record = %s %v → %v, want MODIFY of CRED#0 from one to two", last.EventName, last.Change.OldImage, last.Change.NewImage)
	}
	if seen[0].EventName != "INSERT" || seen[0].Change.OldImage != nil {
		t.Errorf("first record = %s with old image %v, want an INSERT without one", seen[0].EventName, seen[0].Change.OldImage)
	}
}
