package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/refresh"
)

// ScanSource is the refresh's Source over the credentials table.
type ScanSource struct {
	Store    *Store
	PageSize int32
}

var (
	_ refresh.Source       = ScanSource{}
	_ refresh.Cursors      = (*Store)(nil)
	_ refresh.ClaimChecker = (*Store)(nil)
)

// Page reads one page of the segment.
func (s ScanSource) Page(ctx context.Context, seg refresh.Segment, after string) (refresh.ScanPage, error) {
	return s.Store.ScanCredentials(ctx, seg.Index, seg.Total, after, s.PageSize)
}

// ScanCredentials reads one page (at most limit items, and at most 1 MB) of
// segment of total of the credentials table, after position after ("" = the
// start). Every item is returned, credential or not, so a caller can resume
// exactly after any of them; no FilterExpression, since DynamoDB charges for
// the items it evaluates, not for those it returns.
func (s *Store) ScanCredentials(ctx context.Context, segment, total int, after string, limit int32) (refresh.ScanPage, error) {
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
			return refresh.ScanPage{}, err
		}
		in.ExclusiveStartKey = k
	}
	out, err := s.db.Scan(ctx, in)
	if err != nil {
		return refresh.ScanPage{}, fmt.Errorf("dynamo: scan credentials (segment %d/%d): %w", segment, total, err)
	}
	page := refresh.ScanPage{Items: make([]refresh.ScanItem, 0, len(out.Items))}
	for _, item := range out.Items {
		k, err := readPosKey(item)
		if err != nil {
			return refresh.ScanPage{}, fmt.Errorf("dynamo: scan credentials: item key: %w", err)
		}
		it := refresh.ScanItem{Pos: k.encode()}
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
		k, err := readPosKey(out.LastEvaluatedKey)
		if err != nil {
			return refresh.ScanPage{}, fmt.Errorf("dynamo: scan credentials: last key: %w", err)
		}
		page.Next = k.encode()
	}
	return page, nil
}

type posKey struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

func readPosKey(it item) (posKey, error) {
	rd := reader{it: it}
	k := posKey{PK: rd.str("pk"), SK: rd.str("sk")}
	return k, rd.err
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
//	position, updated_at; while a run holds the segment: lease_until (Unix ms), lease_owner
//
// An organisation could be called "#refresh" (org ids are JWT claims), but
// its items all have sk "CRED#..." or "UNIQ#...", so none can collide with a
// cursor; List queries begins_with(sk, "CRED#") and never sees one, and the
// scan skips it by kind. The credentials table rather than the usage table
// because the usage table's rows expire by TTL and are deleted with their
// credential, and because the cursor is a position in this table. The
// refresh function may write only this partition (IAM dynamodb:LeadingKeys).
//
// The cursor item is also the segment's lease: a run takes it with the
// read of the cursor (one conditional UpdateItem) and gives it back with
// the save (one conditional PutItem, which drops the lease attributes), so
// two runs of one segment never probe at once.
const (
	cursorPK     = "#refresh"
	cursorPrefix = "CURSOR#"
	kindCursor   = "refresh-cursor"
)

func cursorSK(segment, total int) string {
	return cursorPrefix + strconv.Itoa(segment) + "/" + strconv.Itoa(total)
}

var cursorNames = map[string]string{"#kind": "kind", "#until": "lease_until", "#owner": "lease_owner"}

// AcquireCursor takes the lease on segment of total for owner until until
// (a lease that ended before now is free) and returns the saved scan
// position, "" when none (start from the beginning). It is one UpdateItem.
// When another run holds the lease it returns refresh.ErrLeaseHeld. A cursor saved
// under another number of segments is not used: positions do not carry
// over between segmentations.
func (s *Store) AcquireCursor(ctx context.Context, segment, total int, owner string, now, until time.Time) (string, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.credTable,
		Key:                      key(cursorPK, cursorSK(segment, total)),
		UpdateExpression:         aws.String("SET #kind = :kind, #until = :until, #owner = :owner"),
		ConditionExpression:      aws.String("attribute_not_exists(#until) OR #until < :now"),
		ExpressionAttributeNames: cursorNames,
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":kind":  &ddbtypes.AttributeValueMemberS{Value: kindCursor},
			":until": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)},
			":owner": &ddbtypes.AttributeValueMemberS{Value: owner},
			":now":   &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
		},
		ReturnValues: ddbtypes.ReturnValueAllNew,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return "", refresh.ErrLeaseHeld
	}
	if err != nil {
		return "", fmt.Errorf("dynamo: lease refresh cursor %d/%d: %w", segment, total, err)
	}
	if v, ok := out.Attributes["position"].(*ddbtypes.AttributeValueMemberS); ok {
		if _, err := decodePos(v.Value); err != nil {
			return "", nil // unreadable: start over rather than stop refreshing
		}
		return v.Value, nil
	}
	return "", nil
}

// SaveCursor stores the scan position of segment of total ("" = start
// over) and gives back owner's lease, in one PutItem that holds only while
// owner still has the lease (else refresh.ErrLeaseLost, and nothing is written).
func (s *Store) SaveCursor(ctx context.Context, segment, total int, owner, pos, updatedAt string) error {
	item := map[string]ddbtypes.AttributeValue{
		"pk":         &ddbtypes.AttributeValueMemberS{Value: cursorPK},
		"sk":         &ddbtypes.AttributeValueMemberS{Value: cursorSK(segment, total)},
		"kind":       &ddbtypes.AttributeValueMemberS{Value: kindCursor},
		"updated_at": &ddbtypes.AttributeValueMemberS{Value: updatedAt},
	}
	if pos != "" {
		item["position"] = &ddbtypes.AttributeValueMemberS{Value: pos}
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.credTable, Item: item,
		ConditionExpression:       aws.String("#owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#owner": "lease_owner"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":owner": &ddbtypes.AttributeValueMemberS{Value: owner}},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return refresh.ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("dynamo: save refresh cursor %d/%d: %w", segment, total, err)
	}
	return nil
}

// ClaimedSecrets checks, with BatchGetItem (100 keys a call), which of refs
// are claimed: the credential exists, has a key and names that secret. It
// returns the claimed ones' indexes in refs.
func (s *Store) ClaimedSecrets(ctx context.Context, refs []refresh.SecretClaim) (map[int]bool, error) {
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
				rd := reader{it: item}
				k, hasKey, secret := posKey{PK: rd.str("pk"), SK: rd.str("sk")}, rd.boolean("has_api_key"), rd.strOr("secret_name")
				if rd.err != nil {
					return nil, fmt.Errorf("dynamo: check secret claims: %w", rd.err)
				}
				for _, i := range want[k] {
					if hasKey && secret == refs[i].SecretName {
						claimed[i] = true
					}
				}
			}
			in.RequestItems = out.UnprocessedKeys
		}
	}
	return claimed, nil
}

// SecretClaimed is ClaimedSecrets for one secret with a consistent
// GetItem: the sweep's last look before it deletes.
func (s *Store) SecretClaimed(ctx context.Context, ref refresh.SecretClaim) (bool, error) {
	st, err := s.SecretClaimState(ctx, ref, time.Now())
	return st.Claimed, err
}

// SecretClaimState reads ref's credential with a consistent GetItem and
// says whether it claims ref's secret and whether it is locked at at: the
// sweep's last look before it restores a secret scheduled for deletion.
func (s *Store) SecretClaimState(ctx context.Context, ref refresh.SecretClaim, at time.Time) (refresh.ClaimState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.credTable, Key: key(ref.OrgID, credSK(ref.CredentialID)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("has_api_key, secret_name, " + lockAttr + ", " + lockUntilAttr),
	})
	if err != nil {
		return refresh.ClaimState{}, fmt.Errorf("dynamo: check secret claim: %w", err)
	}
	if out.Item == nil {
		return refresh.ClaimState{}, nil
	}
	rd := reader{it: out.Item}
	hasKey, secret := rd.boolean("has_api_key"), rd.strOr("secret_name")
	if rd.err != nil {
		return refresh.ClaimState{}, fmt.Errorf("dynamo: check secret claim: %w", rd.err)
	}
	st := refresh.ClaimState{Claimed: hasKey && secret == ref.SecretName}
	if _, held := out.Item[lockAttr]; held {
		// As Lock: a lock whose key_lock_until is before now is free. One
		// whose expiry cannot be read counts as held.
		st.Locked = true
		if v, ok := out.Item[lockUntilAttr].(*ddbtypes.AttributeValueMemberN); ok {
			if until, err := strconv.ParseInt(v.Value, 10, 64); err == nil && until < at.UnixMilli() {
				st.Locked = false
			}
		}
	}
	return st, nil
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
