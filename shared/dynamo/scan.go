package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
)

// ScanItem is one item of a credentials-table scan, in scan order.
type ScanItem struct {
	// Pos is where a scan resumes to continue after this item (an encoded
	// ExclusiveStartKey).
	Pos string
	// Credential is set when the item is a credential; guards and the
	// refresh cursors leave it nil, as does an item that does not decode
	// (Err says why).
	Credential *credentials.Credential
	Err        error
}

// ScanPage is one page of a (segment of a) scan.
type ScanPage struct {
	Items []ScanItem
	Next  string // "" at the end of the segment
}

// ScanCredentials reads one page (at most limit items, and at most 1 MB) of
// segment of total of the credentials table, after position after ("" = the
// start). Every item is returned, credential or not, so a caller can resume
// exactly after any of them; no FilterExpression, since DynamoDB charges for
// the items it evaluates, not for those it returns.
func (s *Store) ScanCredentials(ctx context.Context, segment, total int, after string, limit int32) (ScanPage, error) {
	in := &dynamodb.ScanInput{TableName: &s.credTable}
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	if total > 1 {
		in.Segment, in.TotalSegments = aws.Int32(int32(segment)), aws.Int32(int32(total))
	}
	if after != "" {
		k, err := decodePos(after)
		if err != nil {
			return ScanPage{}, err
		}
		in.ExclusiveStartKey = k
	}
	out, err := s.db.Scan(ctx, in)
	if err != nil {
		return ScanPage{}, fmt.Errorf("dynamo: scan credentials (segment %d/%d): %w", segment, total, err)
	}
	page := ScanPage{Items: make([]ScanItem, 0, len(out.Items))}
	for _, item := range out.Items {
		var k posKey
		if err := attributevalue.UnmarshalMap(item, &k); err != nil {
			return ScanPage{}, fmt.Errorf("dynamo: scan credentials: item key: %w", err)
		}
		it := ScanItem{Pos: k.encode()}
		if kind, ok := item["kind"].(*ddbtypes.AttributeValueMemberS); ok && kind.Value == kindCred {
			c, err := decode(item)
			if err != nil {
				it.Err = err
			} else {
				it.Credential = &c
			}
		}
		page.Items = append(page.Items, it)
	}
	if len(out.LastEvaluatedKey) > 0 {
		var k posKey
		if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &k); err != nil {
			return ScanPage{}, fmt.Errorf("dynamo: scan credentials: last key: %w", err)
		}
		page.Next = k.encode()
	}
	return page, nil
}

type posKey struct {
	PK string `dynamodbav:"pk" json:"pk"`
	SK string `dynamodbav:"sk" json:"sk"`
}

func (k posKey) encode() string {
	b, _ := json.Marshal(k) // two strings: cannot fail
	return string(b)
}

func decodePos(pos string) (map[string]ddbtypes.AttributeValue, error) {
	var k posKey
	if err := json.Unmarshal([]byte(pos), &k); err != nil || k.PK == "" || k.SK == "" {
		return nil, fmt.Errorf("dynamo: scan position %q is not a key", pos)
	}
	return key(k.PK, k.SK), nil
}

// Refresh cursors live in the credentials table under a reserved partition:
//
//	pk = "#refresh"   sk = "CURSOR#<segment>/<total>"   kind = "refresh-cursor"
//
// An organisation could be called "#refresh" (org ids are JWT claims), but
// its items all have sk "CRED#..." or "UNIQ#...", so none can collide with a
// cursor; List queries begins_with(sk, "CRED#") and never sees one, and the
// scan skips it by kind. The credentials table rather than the usage table
// because the usage table's rows expire by TTL and are deleted with their
// credential, and because the cursor is a position in this table.
const (
	cursorPK     = "#refresh"
	cursorPrefix = "CURSOR#"
	kindCursor   = "refresh-cursor"
)

func cursorSK(segment, total int) string {
	return cursorPrefix + strconv.Itoa(segment) + "/" + strconv.Itoa(total)
}

// LoadCursor returns the saved scan position of segment of total, "" when
// none (start from the beginning). A cursor saved under another number of
// segments is not used: positions do not carry over between segmentations.
func (s *Store) LoadCursor(ctx context.Context, segment, total int) (string, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.credTable, Key: key(cursorPK, cursorSK(segment, total)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("dynamo: load refresh cursor %d/%d: %w", segment, total, err)
	}
	if v, ok := out.Item["position"].(*ddbtypes.AttributeValueMemberS); ok {
		if _, err := decodePos(v.Value); err != nil {
			return "", nil // unreadable: start over rather than stop refreshing
		}
		return v.Value, nil
	}
	return "", nil
}

// SaveCursor stores the scan position of segment of total ("" = start over).
func (s *Store) SaveCursor(ctx context.Context, segment, total int, pos, updatedAt string) error {
	item := map[string]ddbtypes.AttributeValue{
		"pk":         &ddbtypes.AttributeValueMemberS{Value: cursorPK},
		"sk":         &ddbtypes.AttributeValueMemberS{Value: cursorSK(segment, total)},
		"kind":       &ddbtypes.AttributeValueMemberS{Value: kindCursor},
		"updated_at": &ddbtypes.AttributeValueMemberS{Value: updatedAt},
	}
	if pos != "" {
		item["position"] = &ddbtypes.AttributeValueMemberS{Value: pos}
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.credTable, Item: item}); err != nil {
		return fmt.Errorf("dynamo: save refresh cursor %d/%d: %w", segment, total, err)
	}
	return nil
}

// SecretClaim says whether a credential names a secret as its key.
type SecretClaim struct {
	OrgID, CredentialID string
	SecretName          string
}

// ClaimedSecrets checks, with BatchGetItem (100 keys a call), which of refs
// are claimed: the credential exists, has a key and names that secret. It
// returns the claimed ones' indexes in refs.
func (s *Store) ClaimedSecrets(ctx context.Context, refs []SecretClaim) (map[int]bool, error) {
	claimed := map[int]bool{}
	for start := 0; start < len(refs); start += 100 {
		chunk := refs[start:min(start+100, len(refs))]
		want := map[posKey][]int{}
		var keys []map[string]ddbtypes.AttributeValue
		for i, r := range chunk {
			k := posKey{PK: r.OrgID, SK: credSK(r.CredentialID)}
			if _, dup := want[k]; !dup {
				keys = append(keys, key(k.PK, k.SK))
			}
			want[k] = append(want[k], start+i)
		}
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
			s.credTable: {
				Keys: keys, ConsistentRead: aws.Bool(true),
				ProjectionExpression: aws.String("pk, sk, has_api_key, secret_name"),
			},
		}}
		for attempt := 0; len(in.RequestItems) > 0; attempt++ {
			if attempt == 5 {
				return nil, errors.New("dynamo: check secret claims: keys left unprocessed")
			}
			if attempt > 0 {
				if err := sleep(ctx, attempt); err != nil {
					return nil, err
				}
			}
			out, err := s.db.BatchGetItem(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("dynamo: check secret claims: %w", err)
			}
			for _, item := range out.Responses[s.credTable] {
				var r struct {
					PK         string `dynamodbav:"pk"`
					SK         string `dynamodbav:"sk"`
					HasAPIKey  bool   `dynamodbav:"has_api_key"`
					SecretName string `dynamodbav:"secret_name"`
				}
				if err := attributevalue.UnmarshalMap(item, &r); err != nil {
					return nil, fmt.Errorf("dynamo: check secret claims: %w", err)
				}
				for _, i := range want[posKey{PK: r.PK, SK: r.SK}] {
					if r.HasAPIKey && r.SecretName == refs[i].SecretName {
						claimed[i] = true
					}
				}
			}
			in.RequestItems = out.UnprocessedKeys
		}
	}
	return claimed, nil
}

// sleep backs off before retrying unprocessed keys, as AWS advises.
func sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(25<<attempt) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
