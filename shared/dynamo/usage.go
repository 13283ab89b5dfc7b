package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
)

var _ liveusage.Store = (*Store)(nil)

// Item layout of the usage table: pk = organisation id, sk = credential id,
// fingerprint, checked_at, result (JSON), source ("schedule" or "read") and
// expires_at, the TTL attribute (epoch seconds).

const (
	sourceSchedule = "schedule"
	sourceRead     = "read"
)

// usageTTL is how long DynamoDB keeps a cached result before its TTL
// deletes it: long past any freshness window, so the refresh's
// oldest-first ordering and the reader's fallback have something to use.
const usageTTL = 24 * time.Hour

// GetWithUsage returns a credential and its cached usage (nil when none) in
// one BatchGetItem over both tables.
func (s *Store) GetWithUsage(ctx context.Context, orgID, id string) (credentials.Credential, *liveusage.Cached, error) {
	in := &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
		s.credTable:  {Keys: []map[string]ddbtypes.AttributeValue{key(orgID, credSK(id))}, ConsistentRead: aws.Bool(true)},
		s.usageTable: {Keys: []map[string]ddbtypes.AttributeValue{key(orgID, id)}, ConsistentRead: aws.Bool(true)},
	}}
	got := map[string]map[string]ddbtypes.AttributeValue{}
	for attempt := 0; len(in.RequestItems) > 0; attempt++ {
		if attempt > 0 {
			if attempt == 5 {
				return credentials.Credential{}, nil, fmt.Errorf("dynamo: get credential %s with usage: keys left unprocessed", id)
			}
			select { // unprocessed keys: back off as AWS advises
			case <-ctx.Done():
				return credentials.Credential{}, nil, ctx.Err()
			case <-time.After(time.Duration(25<<attempt) * time.Millisecond):
			}
		}
		out, err := s.db.BatchGetItem(ctx, in)
		if err != nil {
			return credentials.Credential{}, nil, fmt.Errorf("dynamo: get credential %s with usage: %w", id, err)
		}
		for table, items := range out.Responses {
			if len(items) > 0 {
				got[table] = items[0]
			}
		}
		in.RequestItems = out.UnprocessedKeys
	}
	item, ok := got[s.credTable]
	if !ok {
		return credentials.Credential{}, nil, credentials.ErrNotFound()
	}
	c, err := decode(item)
	if err != nil {
		return credentials.Credential{}, nil, err
	}
	u, ok := got[s.usageTable]
	if !ok {
		return c, nil, nil
	}
	cached, err := decodeUsage(u)
	if err != nil {
		return c, nil, nil // an unreadable cache row is a miss, not a failure
	}
	return c, cached, nil
}

func decodeUsage(it map[string]ddbtypes.AttributeValue) (*liveusage.Cached, error) {
	rd := reader{it: it}
	fingerprint, checked, result, source := rd.str("fingerprint"), rd.str("checked_at"), rd.str("result"), rd.strOr("source")
	if rd.err != nil {
		return nil, fmt.Errorf("dynamo: decode usage: %w", rd.err)
	}
	at, err := time.Parse(time.RFC3339Nano, checked)
	if err != nil {
		return nil, fmt.Errorf("dynamo: usage checked_at: %w", err)
	}
	return &liveusage.Cached{Fingerprint: fingerprint, CheckedAt: at, Result: []byte(result), Scheduled: source == sourceSchedule}, nil
}

// PutUsage stores a probe result for a credential.
func (s *Store) PutUsage(ctx context.Context, orgID, id string, u liveusage.Cached) error {
	item := map[string]ddbtypes.AttributeValue{
		"pk":          &ddbtypes.AttributeValueMemberS{Value: orgID},
		"sk":          &ddbtypes.AttributeValueMemberS{Value: id},
		"fingerprint": &ddbtypes.AttributeValueMemberS{Value: u.Fingerprint},
		"checked_at":  &ddbtypes.AttributeValueMemberS{Value: credentials.FormatTime(u.CheckedAt)},
		"result":      &ddbtypes.AttributeValueMemberS{Value: string(u.Result)},
		"expires_at":  &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(u.CheckedAt.Add(usageTTL).Unix(), 10)},
		"source":      &ddbtypes.AttributeValueMemberS{Value: sourceRead},
	}
	if u.Scheduled {
		item["source"] = &ddbtypes.AttributeValueMemberS{Value: sourceSchedule}
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.usageTable, Item: item}); err != nil {
		return fmt.Errorf("dynamo: put usage of %s: %w", id, err)
	}
	return nil
}
