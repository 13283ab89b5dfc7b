package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AdminAPI is what creating tables needs (make run and tests only; no
// function's role allows it).
type AdminAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates table name from the Properties of an
// AWS::DynamoDB::Table resource of template.yaml, so local tables are the
// deployed ones: key schema, attributes, billing mode, stream and TTL. An existing
// table is left as it is.
func CreateTable(ctx context.Context, db AdminAPI, name string, props map[string]any) error {
	in := &dynamodb.CreateTableInput{TableName: &name, BillingMode: ddbtypes.BillingModePayPerRequest}
	for _, a := range list(props["AttributeDefinitions"]) {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(str(a["AttributeName"])),
			AttributeType: ddbtypes.ScalarAttributeType(str(a["AttributeType"])),
		})
	}
	for _, k := range list(props["KeySchema"]) {
		in.KeySchema = append(in.KeySchema, ddbtypes.KeySchemaElement{
			AttributeName: aws.String(str(k["AttributeName"])),
			KeyType:       ddbtypes.KeyType(str(k["KeyType"])),
		})
	}
	if st, ok := props["StreamSpecification"].(map[string]any); ok && str(st["StreamViewType"]) != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(str(st["StreamViewType"])),
		}
	}
	if len(in.KeySchema) == 0 {
		return fmt.Errorf("dynamo: table %s: no KeySchema in template properties", name)
	}
	_, err := db.CreateTable(ctx, in)
	var inUse *ddbtypes.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	if ttl, ok := props["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
		_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: &name,
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
				AttributeName: aws.String(str(ttl["AttributeName"])), Enabled: aws.Bool(true),
			},
		})
		if err != nil {
			return fmt.Errorf("dynamo: table %s: enable TTL: %w", name, err)
		}
	}
	return nil
}

func list(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }
