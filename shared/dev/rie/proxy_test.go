package rie_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// awsCall is one AWS API call a function made, as seen on the wire.
type awsCall struct {
	Service string // "dynamodb", "secretsmanager" or "awsevents"
	Op      string // "GetItem", "CreateSecret", ...
	Body    []byte
}

// recorder sits between a function and moto: it records every call and
// can fail the n-th on purpose with an error the SDK does not retry.
type recorder struct {
	URL    string
	mu     sync.Mutex
	calls  []awsCall
	failAt int
}

func newRecorder(t *testing.T, target string, failAt int) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("endpoint %q: %v", target, err)
	}
	r := &recorder{failAt: failAt}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		target := req.Header.Get("X-Amz-Target") // DynamoDB_20120810.GetItem, secretsmanager.CreateSecret
		svc, op, _ := strings.Cut(target, ".")
		if strings.HasPrefix(svc, "DynamoDB") {
			svc = "dynamodb"
		}
		r.mu.Lock()
		r.calls = append(r.calls, awsCall{Service: strings.ToLower(svc), Op: op, Body: body})
		fail := len(r.calls) == r.failAt
		r.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "InjectedFault", "message": "injected fault"})
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *recorder) Calls() []awsCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]awsCall(nil), r.calls...)
}

// actions maps a call to the IAM actions it needs, each with the resource
// it touches: a table's name, "secret" for the key store, "*" for calls on
// no resource. TransactWriteItems needs the item-level action of each of
// its items; CreateSecret with tags needs TagResource too.
func actions(c awsCall) []string {
	var out []string
	add := func(action, resource string) { out = append(out, action+" "+resource) }
	switch c.Service {
	case "dynamodb":
		var b struct {
			TableName     string
			TransactItems []map[string]struct{ TableName string }
			RequestItems  map[string]json.RawMessage
		}
		_ = json.Unmarshal(c.Body, &b)
		switch c.Op {
		case "TransactWriteItems", "TransactGetItems":
			item := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
				"ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
			for _, ti := range b.TransactItems {
				for kind, v := range ti {
					add("dynamodb:"+item[kind], v.TableName)
				}
			}
		case "BatchGetItem", "BatchWriteItem":
			for table := range b.RequestItems {
				add("dynamodb:"+c.Op, table)
			}
		default:
			add("dynamodb:"+c.Op, b.TableName)
		}
	case "secretsmanager":
		resource := "secret"
		switch c.Op {
		case "ListSecrets", "GetRandomPassword", "BatchGetSecretValue":
			resource = "*"
		}
		add("secretsmanager:"+c.Op, resource)
		if c.Op == "CreateSecret" {
			var b struct{ Tags []json.RawMessage }
			_ = json.Unmarshal(c.Body, &b)
			if len(b.Tags) > 0 {
				add("secretsmanager:TagResource", resource)
			}
		}
	case "awsevents": // EventBridge: X-Amz-Target AWSEvents.PutEvents
		var b struct {
			Entries []struct{ EventBusName string }
		}
		_ = json.Unmarshal(c.Body, &b)
		for _, e := range b.Entries {
			bus := e.EventBusName
			if bus == "" || bus == "default" { // the EventBusName parameter's default
				bus = "bus"
			}
			add("events:"+c.Op, bus)
		}
	default:
		add(c.Service+":"+c.Op, "?")
	}
	return out
}
