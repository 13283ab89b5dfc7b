// Package dynamo stores credential metadata and cached usage in DynamoDB.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

func decode(it map[string]ddbtypes.AttributeValue) (credentials.Credential, error) {
	r, err := readRecord(it)
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: decode credential: %w", err)
	}
	return r.credential()
}

// Create writes the credential and its uniqueness guard in one transaction.
func (s *Store) Create(ctx context.Context, c credentials.Credential) error {
	item, guard := toRecord(c).item(), guardItem(c.OrgID, c.Provider, c.AccountKey, c.ID)
	notExists := aws.String("attribute_not_exists(pk)")
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{TableName: &s.credTable, Item: guard, ConditionExpression: notExists}},
		{Put: &ddbtypes.Put{TableName: &s.credTable, Item: item, ConditionExpression: notExists}},
	}}
	failed, err := s.transact(ctx, in)
	switch {
	case err == nil:
		return nil
	case failed[1]:
		// The credential item itself exists: this very write landed on an
		// earlier attempt whose answer was lost (ids are random v4 UUIDs).
		return nil
	case failed[0]:
		return credentials.Errorf(credentials.Conflict,
			"A '%s' credential with account key '%s' already exists.", c.Provider, c.AccountKey)
	default:
		return fmt.Errorf("dynamo: create credential: %w", err)
	}
}

// transact runs a transaction, retrying cancellations caused only by
// concurrent transactions (the SDK does not), each with a fresh client
// token. It reports which items' conditions failed.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (map[int]bool, error) {
	var err error
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		in.ClientRequestToken = nil // the SDK makes a new one
		_, err = s.db.TransactWriteItems(ctx, in)
		var tce *ddbtypes.TransactionCanceledException
		if err == nil || !errors.As(err, &tce) {
			return nil, err
		}
		failed, retry := map[int]bool{}, false
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				failed[i] = true
			case "TransactionConflict":
				retry = true
			}
		}
		if len(failed) > 0 || !retry {
			return failed, err
		}
	}
	return nil, err
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
	if p.UpdatedBy != "" {
		expr += ", updated_by = :by"
		values[":by"] = sAttr(p.UpdatedBy)
	}
	// The condition below lets this write through only when no lock is held
	// or the one left is expired: that one is dead, and dropping it keeps
	// lock attributes on an item only while a request holds it (the change
	// feed's stream filter relies on that: a new image with a lock is a
	// lock-only write).
	expr += " REMOVE " + lockAttr + ", " + lockUntilAttr + ", " + lockByAttr
	// Not while another request holds the credential to change its key or
	// delete it: that request's write is conditioned on the revision.
	values[":now"] = nAttr(time.Now().UnixMilli())
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.credTable,
		Key:              key(orgID, credSK(id)),
		UpdateExpression: &expr,
		ConditionExpression: aws.String("attribute_exists(pk) AND (attribute_not_exists(" + lockAttr + ") OR " +
			lockUntilAttr + " < :now)"),
		ExpressionAttributeValues:           values,
		ReturnValues:                        ddbtypes.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item != nil {
			return credentials.Credential{}, credentials.Errorf(credentials.Conflict, "The credential is being changed by another request; retry.")
		}
		return credentials.Credential{}, credentials.ErrNotFound()
	}
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: patch credential %s: %w", id, err)
	}
	return decode(out.Attributes)
}

// Replace writes c if the stored revision is still prevRevision.
func (s *Store) Replace(ctx context.Context, c credentials.Credential, prevRevision int64) error {
	item := toRecord(c).item()
	cond, values := guarded(c, prevRevision)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.credTable,
		Item:                                item, // without the lock attributes: the write drops the lock
		ConditionExpression:                 cond,
		ExpressionAttributeValues:           values,
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
	cond, values := guarded(c, c.Revision)
	items := []ddbtypes.TransactWriteItem{
		{Delete: &ddbtypes.Delete{
			TableName:                           &s.credTable,
			Key:                                 key(c.OrgID, credSK(c.ID)),
			ConditionExpression:                 cond,
			ExpressionAttributeValues:           values,
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
	case failed[0]:
		var tce *ddbtypes.TransactionCanceledException
		if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && tce.CancellationReasons[0].Item == nil {
			return credentials.ErrNotFound()
		}
		return credentials.Errorf(credentials.Conflict, "The credential was changed concurrently; retry.")
	default:
		return fmt.Errorf("dynamo: delete credential %s: %w", c.ID, err)
	}
}

// Lock attributes on a credential item: a request that changes the
// credential's key, or deletes it, holds the item for a while so that no
// other request works on the same secret at the same time.
// lockByAttr names the actor holding it, so that a delete's stream record
// (whose old image is the locked item) says who deleted the credential.
const (
	lockAttr      = "key_lock"
	lockUntilAttr = "key_lock_until"
	lockByAttr    = "key_lock_by"
)

// LockAttributes are the attributes only locking writes (Lock, Fence,
// Unlock) set or remove: two images of a credential that differ in these
// alone are the same credential.
var LockAttributes = []string{lockAttr, lockUntilAttr, lockByAttr}

// guarded is the condition of a write over c: the revision it read, and the
// lock it holds, if any.
func guarded(c credentials.Credential, prevRevision int64) (*string, map[string]ddbtypes.AttributeValue) {
	values := map[string]ddbtypes.AttributeValue{
		":rev": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(prevRevision, 10)},
	}
	if c.LockToken == "" {
		return aws.String("revision = :rev"), values
	}
	values[":tok"] = &ddbtypes.AttributeValueMemberS{Value: c.LockToken}
	return aws.String("revision = :rev AND " + lockAttr + " = :tok"), values
}

// Lock reads the credential and takes its lock in one conditional write.
func (s *Store) Lock(ctx context.Context, orgID, id, token string, until time.Time) (credentials.Credential, error) {
	update := "SET " + lockAttr + " = :tok, " + lockUntilAttr + " = :until"
	values := map[string]ddbtypes.AttributeValue{
		":tok":   &ddbtypes.AttributeValueMemberS{Value: token},
		":until": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(until.UnixMilli(), 10)},
		":now":   &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
	}
	if actor := credentials.ActorFrom(ctx); actor != "" {
		update += ", " + lockByAttr + " = :by"
		values[":by"] = sAttr(actor)
	} else {
		update += " REMOVE " + lockByAttr
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.credTable,
		Key:              key(orgID, credSK(id)),
		UpdateExpression: &update,
		ConditionExpression: aws.String("attribute_exists(pk) AND (attribute_not_exists(" + lockAttr + ") OR " +
			lockUntilAttr + " < :now OR " + lockAttr + " = :tok)"),
		ExpressionAttributeValues:           values,
		ReturnValues:                        ddbtypes.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil {
			return credentials.Credential{}, credentials.ErrNotFound()
		}
		return credentials.Credential{}, credentials.Errorf(credentials.Conflict, "credential %s is locked", id)
	}
	if err != nil {
		return credentials.Credential{}, fmt.Errorf("dynamo: lock credential %s: %w", id, err)
	}
	c, err := decode(out.Attributes)
	if err != nil {
		return credentials.Credential{}, err
	}
	c.LockToken = token
	return c, nil
}

// fenced is the lock value Fence leaves: still this request's, but no
// longer the token its earlier writes were conditioned on.
func fenced(token string) string { return token + "/fenced" }

// Fence turns c's lock into its fenced form and reads the item, in one
// conditional write. If c still held the lock, none of its writes landed,
// and now none that is still in flight can (their condition names the old
// token): held is true. Otherwise the item as stored is returned with held
// false (found false when it is gone).
func (s *Store) Fence(ctx context.Context, c credentials.Credential) (cur credentials.Credential, found, held bool, err error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.credTable,
		Key:                 key(c.OrgID, credSK(c.ID)),
		UpdateExpression:    aws.String("SET " + lockAttr + " = :fenced"),
		ConditionExpression: aws.String(lockAttr + " = :tok"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":tok":    sAttr(c.LockToken),
			":fenced": sAttr(fenced(c.LockToken)),
		},
		ReturnValues:                        ddbtypes.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		if ccf.Item == nil {
			return credentials.Credential{}, false, false, nil
		}
		cur, err := decode(ccf.Item)
		// A fence whose answer was lost, retried by the SDK: still held.
		lock, _ := ccf.Item[lockAttr].(*ddbtypes.AttributeValueMemberS)
		held := lock != nil && lock.Value == fenced(c.LockToken)
		return cur, err == nil, held && err == nil, err
	case err != nil:
		return credentials.Credential{}, false, false, fmt.Errorf("dynamo: fence credential %s: %w", c.ID, err)
	}
	cur, err = decode(out.Attributes)
	return cur, err == nil, err == nil, err
}

// Unlock drops c's lock, fenced or not, if c still holds it.
func (s *Store) Unlock(ctx context.Context, c credentials.Credential) error {
	if c.LockToken == "" {
		return nil
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.credTable,
		Key:                 key(c.OrgID, credSK(c.ID)),
		UpdateExpression:    aws.String("REMOVE " + lockAttr + ", " + lockUntilAttr + ", " + lockByAttr),
		ConditionExpression: aws.String(lockAttr + " IN (:tok, :fenced)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":tok": sAttr(c.LockToken), ":fenced": sAttr(fenced(c.LockToken)),
		},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamo: unlock credential %s: %w", c.ID, err)
	}
	return nil
}
