// Package dynamo stores credential metadata and cached usage in DynamoDB.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
)

// API is the part of the DynamoDB client the store uses; tests wrap it to
// count calls and inject faults.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the DynamoDB credentials.Store, plus the usage cache.
type Store struct {
	db          API
	credTable   string
	usageTable  string
	maxAttempts int // for transactions cancelled by TransactionConflict
}

var _ credentials.Store = (*Store)(nil)

// New returns a Store over the two tables. usageTable may be empty for
// functions that never touch the cache; Delete then leaves cached usage to
// its TTL.
func New(db API, credTable, usageTable string) *Store {
	return &Store{db: db, credTable: credTable, usageTable: usageTable, maxAttempts: 4}
}

func key(pk, sk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: pk},
		"sk": &ddbtypes.AttributeValueMemberS{Value: sk},
	}
}

// List returns every credential of the organisation, one Query per page.
func (s *Store) List(ctx context.Context, orgID string) ([]credentials.Credential, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.credTable,
		KeyConditionExpression: aws.String("pk = :org AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":org":    &ddbtypes.AttributeValueMemberS{Value: orgID},
			":prefix": &ddbtypes.AttributeValueMemberS{Value: credPrefix},
		},
		ConsistentRead: aws.Bool(true),
	})
	var out []credentials.Credential
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: list credentials: %w", err)
		}
		for _, item := range page.Items {
			c, err := decode(item)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Get returns one credential of the organisation.
func (s *Store) Get(ctx context.Context, orgID, id string) (credentials.Credential, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.credTable, Key: key(orgID, credSK(id)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: get credential %s: %w", id, err)
	}
	if out.Item == nil {
		return credentials.Credential{}, credentials.ErrNotFound()
	}
	return decode(out.Item)
}

func decode(item map[string]ddbtypes.AttributeValue) (credentials.Credential, error) {
	var r record
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: decode credential: %w", err)
	}
	return r.credential()
}

// Create writes the credential and its uniqueness guard in one transaction.
func (s *Store) Create(ctx context.Context, c credentials.Credential) error {
	item, err := attributevalue.MarshalMap(toRecord(c))
	if err != nil {
		return fmt.Errorf("dynamo: encode credential: %w", err)
	}
	guard, err := attributevalue.MarshalMap(guardRecord{
		PK: c.OrgID, SK: guardSK(c.Provider, c.AccountKey), Kind: kindGuard, CredentialID: c.ID,
	})
	if err != nil {
		return fmt.Errorf("dynamo: encode guard: %w", err)
	}
	notExists := aws.String("attribute_not_exists(pk)")
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: &s.credTable, Item: guard, ConditionExpression: notExists}},
		{Put: &ddbtypes.Put{TableName: &s.credTable, Item: item, ConditionExpression: notExists}},
	}}
	failed, err := s.transact(ctx, in)
	switch {
	case err == nil:
		return nil
	case failed == 0:
		return credentials.Errorf(credentials.Conflict,
			"A '%s' credential with account key '%s' already exists.", c.Provider, c.AccountKey)
	case failed == 1: // a random v4 id collided: vanishingly rare, but not a duplicate
		return fmt.Errorf("dynamo: create credential: id %s exists", c.ID)
	default:
		return fmt.Errorf("dynamo: create credential: %w", err)
	}
}

// transact runs a transaction, retrying cancellations caused only by
// concurrent transactions (the SDK does not). It returns the index of the
// first item whose condition failed, or -1.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (int, error) {
	var err error
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		_, err = s.db.TransactWriteItems(ctx, in)
		var tce *ddbtypes.TransactionCanceledException
		if err == nil || !errors.As(err, &tce) {
			return -1, err
		}
		retry := false
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				return i, err
			case "TransactionConflict":
				retry = true
			}
		}
		if !retry {
			return -1, err
		}
	}
	return -1, err
}

// Patch updates display name and active flag in one conditional write.
func (s *Store) Patch(ctx context.Context, orgID, id string, p credentials.Patch) (credentials.Credential, error) {
	expr := "SET updated_at = :u, revision = revision + :one"
	values := map[string]ddbtypes.AttributeValue{
		":u":   &ddbtypes.AttributeValueMemberS{Value: p.UpdatedAt},
		":one": &ddbtypes.AttributeValueMemberN{Value: "1"},
	}
	if p.DisplayName != nil {
		expr += ", display_name = :d"
		values[":d"] = &ddbtypes.AttributeValueMemberS{Value: *p.DisplayName}
	}
	if p.Active != nil {
		expr += ", active = :a"
		values[":a"] = &ddbtypes.AttributeValueMemberBOOL{Value: *p.Active}
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.credTable,
		Key:                       key(orgID, credSK(id)),
		UpdateExpression:          &expr,
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
		ReturnValues:              ddbtypes.ReturnValueAllNew,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return credentials.Credential{}, credentials.ErrNotFound()
	}
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: patch credential %s: %w", id, err)
	}
	return decode(out.Attributes)
}

// Replace writes c if the stored revision is still prevRevision.
func (s *Store) Replace(ctx context.Context, c credentials.Credential, prevRevision int64) error {
	item, err := attributevalue.MarshalMap(toRecord(c))
	if err != nil {
		return fmt.Errorf("dynamo: encode credential: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.credTable,
		Item:                item,
		ConditionExpression: aws.String("revision = :rev"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":rev": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(prevRevision, 10)},
		},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil {
			return credentials.ErrNotFound()
		}
		return credentials.Errorf(credentials.Conflict, "The credential was changed concurrently; retry.")
	}
	if err != nil {
		return fmt.Errorf("dynamo: replace credential %s: %w", c.ID, err)
	}
	return nil
}

// Delete removes the credential, its guard and its cached usage together.
func (s *Store) Delete(ctx context.Context, c credentials.Credential) error {
	items := []ddbtypes.TransactWriteItem{
		{Delete: &ddbtypes.Delete{
			TableName:           &s.credTable,
			Key:                 key(c.OrgID, credSK(c.ID)),
			ConditionExpression: aws.String("revision = :rev"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":rev": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(c.Revision, 10)},
			},
			ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Delete: &ddbtypes.Delete{TableName: &s.credTable, Key: key(c.OrgID, guardSK(c.Provider, c.AccountKey))}},
	}
	if s.usageTable != "" {
		items = append(items, ddbtypes.TransactWriteItem{Delete: &ddbtypes.Delete{
			TableName: &s.usageTable, Key: key(c.OrgID, c.ID),
		}})
	}
	failed, err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case failed == 0:
		var tce *ddbtypes.TransactionCanceledException
		if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && tce.CancellationReasons[0].Item == nil {
			return credentials.ErrNotFound()
		}
		return credentials.Errorf(credentials.Conflict, "The credential was changed concurrently; retry.")
	default:
		return fmt.Errorf("dynamo: delete credential %s: %w", c.ID, err)
	}
}
