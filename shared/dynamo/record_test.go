package dynamo

import (
	"reflect"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
)

func TestRecordRoundTrip(t *testing.T) {
	last4, prev4, base := "wxyz", "abcd", "https://api.example.com/v1"
	now := time.Date(2026, 5, 20, 22, 3, 57, 123456000, time.UTC)
	for _, c := range []credentials.Credential{
		{ID: "id-1", OrgID: "org", Provider: "openai", AccountKey: "default", DisplayName: "Prod",
			APIKeyLastFour: &last4, HasAPIKey: true, BaseURL: &base, Active: true, CreatedAt: now, UpdatedAt: now.Add(time.Second),
			SecretName: "p/org/id-1", KeyVersion: "v-1", Revision: 7, CreatedBy: "alice", UpdatedBy: "bob"},
		{ID: "id-3", OrgID: "org", Provider: "openai", AccountKey: "rotated", DisplayName: "Rotated",
			APIKeyLastFour: &last4, HasAPIKey: true, Active: true, CreatedAt: now, UpdatedAt: now.Add(2 * time.Second),
			SecretName: "p/org/id-3", KeyVersion: "v-2", Revision: 3,
			KeyUpdatedAt: ptrTime(now.Add(2 * time.Second)), PrevKeyVersion: "v-1", PrevAPIKeyLastFour: &prev4,
			PrevKeyUpdatedAt: ptrTime(now)},
		{ID: "id-2", OrgID: "org", Provider: "groq", AccountKey: "", DisplayName: "", CreatedAt: now, UpdatedAt: now, Revision: 1},
	} {
		it := toRecord(c).item()
		if _, ok := it["base_url"]; ok != (c.BaseURL != nil) {
			t.Errorf("base_url present = %v, want %v", ok, c.BaseURL != nil)
		}
		got, err := decode(it)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
	}
}

func TestDecodeRefusesWrongTypes(t *testing.T) {
	base := toRecord(credentials.Credential{ID: "x", OrgID: "o", Provider: "openai", Revision: 1}).item()
	for name, bad := range map[string]ddbtypes.AttributeValue{
		"provider":           &ddbtypes.AttributeValueMemberN{Value: "1"},
		"revision":           &ddbtypes.AttributeValueMemberS{Value: "one"},
		"has_api_key":        &ddbtypes.AttributeValueMemberS{Value: "true"},
		"base_url":           &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"api_key_updated_at": &ddbtypes.AttributeValueMemberS{Value: "yesterday"},
		"prev_key_version":   &ddbtypes.AttributeValueMemberN{Value: "2"},
	} {
		it := item{}
		for k, v := range base {
			it[k] = v
		}
		it[name] = bad
		if _, err := decode(it); err == nil {
			t.Errorf("%s of the wrong type: want an error", name)
		}
	}
	delete(base, "provider")
	if _, err := decode(base); err == nil {
		t.Error("missing provider: want an error")
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
