package localapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/dev/awstest"
)

type storedCred struct {
	SK         string `dynamodbav:"sk"`
	Kind       string `dynamodbav:"kind"`
	ID         string `dynamodbav:"id"`
	HasAPIKey  bool   `dynamodbav:"has_api_key"`
	SecretName string `dynamodbav:"secret_name"`
	KeyVersion string `dynamodbav:"key_version"`
}

// storedKey reads a credential's key the way the probe does: the version
// the metadata names.
func (h *harness) storedKey(org, id string) string {
	h.t.Helper()
	for _, c := range h.scan() {
		if c.ID != id || c.Kind != "credential" {
			continue
		}
		out, err := h.env.SM.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
			SecretId: &c.SecretName, VersionId: &c.KeyVersion,
		})
		if err != nil {
			h.t.Fatalf("get secret of %s: %v", id, err)
		}
		var v struct {
			APIKey string `json:"api_key"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
			h.t.Fatalf("secret of %s is not JSON", id)
		}
		return v.APIKey
	}
	h.t.Fatalf("credential %s not stored", id)
	return ""
}

func (h *harness) scan() []storedCred {
	h.t.Helper()
	out, err := h.env.DDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &h.env.CredTable})
	if err != nil {
		h.t.Fatalf("scan: %v", err)
	}
	var items []storedCred
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		h.t.Fatalf("decode scan: %v", err)
	}
	return items
}

// checkConsistent fails the test when the two stores disagree: every
// credential that claims a key can read it at the version it names, and
// every live secret under the prefix belongs to a credential that claims it.
func (h *harness) checkConsistent() {
	h.t.Helper()
	if err := h.consistency(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) consistency() error {
	ctx := context.Background()
	claimed := map[string]bool{}
	for _, c := range h.scan() {
		if c.Kind != "credential" || !c.HasAPIKey {
			continue
		}
		claimed[c.SecretName] = true
		_, err := h.env.SM.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &c.SecretName, VersionId: &c.KeyVersion})
		if err != nil {
			return fmt.Errorf("credential %s claims a key it lacks: %v", c.ID, err)
		}
		d, err := h.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &c.SecretName})
		if err != nil || d.DeletedDate != nil {
			return fmt.Errorf("credential %s claims a key scheduled for deletion (err %v)", c.ID, err)
		}
	}
	p := secretsmanager.NewListSecretsPaginator(h.env.SM, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{h.env.SecretPrefix + "/"}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list secrets: %v", err)
		}
		for _, s := range page.SecretList {
			name := aws.ToString(s.Name)
			if s.DeletedDate == nil && !claimed[name] {
				return fmt.Errorf("secret %s exists without a credential that claims it", name)
			}
		}
	}
	return nil
}

// TestFailureAtEveryAWSCall fails each AWS call of each write path in turn,
// in four ways: before it is sent; after AWS carried it out, its answer
// lost past the SDK's retries; after AWS carried it out, its first answer
// lost so that the SDK sends it again; and refused by AWS as throttled or
// unavailable (alternately). Each time the request must answer its clean
// status or a bare 500 (for AWS's refusals, a 503 with Retry-After), a
// success must have done what it says, the two stores must agree, no key
// may leak, no compensation may fail, and the credential must not be left
// locked.
func TestFailureAtEveryAWSCall(t *testing.T) {
	verifyBase := newFakeOpenAI(t, testKey).URL + "/v1" // accepts the key the verified paths set
	withKey := func(h *harness, admin string) string {
		return h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": "sk-old-key-1111"}).ID
	}
	keyless := func(h *harness, admin string) string {
		return h.create(admin, map[string]any{"provider": "openai", "account_key": "a"}).ID
	}
	hasKey := func(want string) func(h *harness, id string) error {
		return func(h *harness, id string) error {
			if got := h.storedKey("org-f", id); got != want {
				return fmt.Errorf("stored key is not the one the request set")
			}
			return nil
		}
	}
	gone := func(h *harness, id string) error {
		for _, c := range h.scan() {
			if c.ID == id {
				return fmt.Errorf("credential %s still stored after a 204", id)
			}
		}
		return nil
	}
	paths := []struct {
		name   string
		setup  func(h *harness, admin string) string // returns a credential id, or ""
		run    func(h *harness, admin, id string) response
		effect func(h *harness, id string) error // holds after a success
	}{
		{"create with key", nil, func(h *harness, admin, _ string) response {
			return h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "openai", "account_key": "b", "api_key": testKey})
		}, nil},
		{"create duplicate with key", keyless, func(h *harness, admin, _ string) response {
			return h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": testKey})
		}, nil},
		{"set first key", keyless, patchKey(testKey), hasKey(testKey)},
		{"rotate key", withKey, patchKey(testKey), hasKey(testKey)},
		{"clear key", withKey, patchKey(""), func(h *harness, id string) error {
			for _, c := range h.scan() {
				if c.ID == id && c.HasAPIKey {
					return fmt.Errorf("key still claimed after clearing")
				}
			}
			return nil
		}},
		{"set key after clear", func(h *harness, admin string) string {
			id := withKey(h, admin)
			wantStatus(h.t, h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": ""}), 200)
			return id
		}, patchKey(testKey), hasKey(testKey)},
		{"change base URL", withKey, func(h *harness, admin, id string) response {
			return h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"base_url": "https://llm.example.com/v1"})
		}, nil},
		{"verified create", nil, func(h *harness, admin, _ string) response {
			return h.do("POST", "/provider-credentials?verify=true", admin, map[string]any{"provider": "openai_compatible", "account_key": "b", "api_key": testKey, "base_url": verifyBase})
		}, nil},
		{"verified rotate", func(h *harness, admin string) string {
			return h.create(admin, map[string]any{"provider": "openai_compatible", "account_key": "a", "api_key": "sk-old-key-1111", "base_url": verifyBase}).ID
		}, func(h *harness, admin, id string) response {
			return h.do("PATCH", "/provider-credentials/"+id+"?verify=true", admin, map[string]any{"api_key": testKey})
		}, hasKey(testKey)},
		{"roll back", rotated, rollbackCred, rolledBackTo("sk-old-key-1111")},
		{"roll back twice", rolledBack, rollbackCred, rolledBackTo(testKey)},
		{"delete with key", withKey, deleteCred, gone},
		{"delete without key", keyless, deleteCred, gone},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			// A clean run counts the path's AWS calls.
			h := newHarness(t)
			admin := h.token("org-f", "admin")
			id := ""
			if p.setup != nil {
				id = p.setup(h, admin)
			}
			h.env.Calls.Reset()
			clean := p.run(h, admin, id)
			calls := h.env.Calls.Ops()
			if clean.status >= 500 {
				t.Fatalf("clean run: %d %s", clean.status, clean.body)
			}
			h.checkConsistent()
			t.Logf("%s: %d AWS calls %v", p.name, len(calls), calls)
			for _, mode := range []string{"before send", "answer lost", "answer lost, SDK retried", "AWS outage"} {
				faulted, unavailable := 0, 0
				for i := 1; i <= len(calls); i++ {
					h := newHarness(t)
					admin := h.token("org-f", "admin")
					id := ""
					if p.setup != nil {
						id = p.setup(h, admin)
					}
					switch mode {
					case "before send":
						h.env.Calls.FailAt(i)
					case "answer lost":
						h.env.Calls.LoseAnswerAt(i)
					case "AWS outage":
						if i%2 == 1 {
							h.env.Calls.FailAtWith(i, awstest.Throttled(p.name))
						} else {
							h.env.Calls.FailAtWith(i, awstest.Unavailable(p.name))
						}
					default:
						h.env.Calls.RetryAfterSendAt(i)
					}
					r := p.run(h, admin, id)
					ops, injected := h.env.Calls.Ops(), h.env.Calls.Injected()
					where := fmt.Sprintf("%s at call %d of %v", mode, i, ops)
					// A call that fails on its own (a duplicate's transaction) has
					// no answer to lose: 0 then, never more than 1.
					if injected > 1 || injected == 0 && (mode == "before send" || mode == "AWS outage") {
						t.Fatalf("%s: %d faults injected", where, injected)
					}
					faulted += injected
					failed := 500
					if mode == "AWS outage" {
						failed = 503
					}
					if r.status != failed && r.status != clean.status {
						t.Errorf("%s: status = %d, want %d or %d", where, r.status, failed, clean.status)
					}
					if r.status == 503 {
						unavailable++
						if r.header.Get("Retry-After") == "" || r.detail(t) != "The credential storage is unavailable; retry shortly." {
							t.Errorf("%s: 503 without Retry-After or detail: %v %s", where, r.header, r.body)
						}
					}
					if r.status == 500 && string(r.body) != `{"detail":"internal error"}` {
						t.Errorf("%s: body = %s", where, r.body)
					}
					if r.status == clean.status && r.status < 300 && p.effect != nil {
						if err := p.effect(h, id); err != nil {
							t.Errorf("%s: answered %d but %v", where, r.status, err)
						}
					}
					if err := h.consistency(); err != nil {
						t.Errorf("%s: %v", where, err)
					}
					if strings.Contains(h.log.String(), testKey) || strings.Contains(string(r.body), testKey) {
						t.Errorf("%s: the key leaked", where)
					}
					if strings.Contains(h.log.String(), "compensation failed") {
						t.Errorf("%s: a compensation failed: %s", where, h.log.String())
					}
					// Not left locked: a key change goes through at once.
					if id != "" && gone(h, id) != nil {
						if r := h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": "sk-after-fault-2222"}); r.status != 200 {
							t.Errorf("%s: a key change afterwards: status %d (%s)", where, r.status, r.body)
						}
						if err := h.consistency(); err != nil {
							t.Errorf("%s: after the follow-up key change: %v", where, err)
						}
					}
				}
				if faulted < len(calls)-1 {
					t.Errorf("%s: faults injected in %d of %d runs", mode, faulted, len(calls))
				}
				if mode == "AWS outage" && unavailable == 0 {
					t.Errorf("%s: no run answered 503", mode)
				}
			}
		})
	}
}

func deleteCred(h *harness, admin, id string) response {
	return h.do("DELETE", "/provider-credentials/"+id, admin, nil)
}

func patchKey(key string) func(h *harness, admin, id string) response {
	return func(h *harness, admin, id string) response {
		return h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": key})
	}
}

// TestAWSCallsPerRequest holds each route to the fewest AWS calls the
// design allows.
func TestAWSCallsPerRequest(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-n", "admin")
	id := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": testKey}).ID
	for _, tc := range []struct {
		name string
		run  func() response
		want []string
	}{
		{"list", func() response { return h.do("GET", "/provider-credentials", admin, nil) }, []string{"DynamoDB.Query"}},
		{"get", func() response { return h.do("GET", "/provider-credentials/"+id, admin, nil) }, []string{"DynamoDB.GetItem"}},
		{"create with key", func() response {
			return h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "groq", "account_key": "b", "api_key": testKey})
		}, []string{"Secrets Manager.CreateSecret", "DynamoDB.TransactWriteItems"}},
		{"create without key", func() response {
			return h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "groq", "account_key": "c"})
		}, []string{"DynamoDB.TransactWriteItems"}},
		{"patch without key change", func() response {
			return h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"display_name": "n", "active": false})
		}, []string{"DynamoDB.UpdateItem"}},
		{"patch key", func() response {
			return h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": "sk-new-9999"})
		}, []string{"DynamoDB.UpdateItem", "Secrets Manager.PutSecretValue", "DynamoDB.PutItem"}}, // read+lock, new version, write+unlock
		{"roll back", func() response { return h.do("POST", "/provider-credentials/"+id+"/rollback", admin, nil) },
			[]string{"DynamoDB.UpdateItem", "Secrets Manager.UpdateSecretVersionStage", "DynamoDB.PutItem"}}, // read+lock, AWSCURRENT back, swap+unlock
		{"delete", func() response { return h.do("DELETE", "/provider-credentials/"+id, admin, nil) },
			[]string{"DynamoDB.UpdateItem", "Secrets Manager.DeleteSecret", "DynamoDB.TransactWriteItems"}},
		{"get missing", func() response { return h.do("GET", "/provider-credentials/"+id, admin, nil) }, []string{"DynamoDB.GetItem"}},
	} {
		h.env.Calls.Reset()
		r := tc.run()
		if r.status >= 400 && tc.name != "get missing" {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		if got := h.env.Calls.Ops(); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: AWS calls = %v, want %v", tc.name, got, tc.want)
		}
	}
}
