package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

// The cold starts read in coldOrg, which holds one credential (with a key,
// a base URL at the fake provider and a cached usage result), and write in
// coldWrites, so that what they create does not grow what list returns.
const coldOrg, coldWrites = "org-cold", "org-cold-writes"

// coldSeed is the data the cold-start requests use.
type coldSeed struct {
	w        *World
	provider string
	keyed    string
	rotated  string // in coldWrites, with a key rotated once: what a rollback swaps
	n        int
}

func (w *World) seedForColdStart(ctx context.Context, provider string) (*coldSeed, error) {
	s := &coldSeed{w: w, provider: provider}
	id, err := s.create(ctx, coldOrg, map[string]any{
		"provider": "openai", "account_key": "cold", "api_key": FakeProviderKey, "base_url": provider + "/v1",
	})
	if err != nil {
		return nil, err
	}
	s.keyed = id
	if s.rotated, err = s.create(ctx, coldWrites, map[string]any{
		"provider": "openai", "account_key": "cold-rotated", "api_key": FakeProviderKey,
	}); err != nil {
		return nil, err
	}
	update, err := w.Invoker("update-credential")
	if err != nil {
		return nil, err
	}
	if _, err := Do(ctx, update, Request{Method: "PATCH", Path: "/provider-credentials/" + s.rotated, Body: `{"api_key":"sk-bench-rotated-2222"}`, Org: coldWrites, Role: "admin"}, 200); err != nil {
		return nil, err
	}
	usage, err := w.Invoker("get-usage")
	if err != nil {
		return nil, err
	}
	if _, err := Do(ctx, usage, Request{Method: "GET", Path: "/provider-credentials/" + id + "/usage", Org: coldOrg, Role: "member"}, 200); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *coldSeed) create(ctx context.Context, org string, body map[string]any) (string, error) {
	create, err := s.w.Invoker("create-credential")
	if err != nil {
		return "", err
	}
	j, _ := json.Marshal(body)
	resp, err := Do(ctx, create, Request{Method: "POST", Path: "/provider-credentials", Body: string(j), Org: org, Role: "admin"}, 201)
	if err != nil {
		return "", err
	}
	var c struct{ ID string }
	if err := json.Unmarshal([]byte(resp.Body), &c); err != nil {
		return "", err
	}
	return c.ID, nil
}

// event returns a function's first request, as its template event says it
// is called, and the check of its answer: a success status for the routes
// known here, any non-5xx answer for others; for a scheduled function, a
// scheduled event and any answer that is not a function error.
func (s *coldSeed) event(ctx context.Context, fn samtemplate.Function) ([]byte, func([]byte) error, error) {
	s.n++
	for _, ev := range fn.Events {
		if ev.Type != "HttpApi" {
			continue
		}
		r := Request{Method: ev.Method, Path: ev.Path, Org: coldOrg, Role: "admin"}
		want := 0 // any status below 500
		id := s.keyed
		switch {
		case ev.Method == "GET":
			want = 200
		case ev.Method == "POST" && strings.HasSuffix(ev.Path, "/rollback"):
			// Each start swaps the rotated credential's two keys again.
			r.Org, id, want = coldWrites, s.rotated, 200
		case ev.Method == "POST" && strings.HasSuffix(ev.Path, "/test"):
			r.Body, want = fmt.Sprintf(`{"provider":"openai","api_key":%q,"base_url":%q}`, FakeProviderKey, s.provider+"/v1"), 200
		case ev.Method == "POST":
			r.Org = coldWrites
			r.Body, want = fmt.Sprintf(`{"provider":"groq","account_key":"cold-%d-%d"}`, time.Now().UnixNano(), s.n), 201
		case ev.Method == "PATCH":
			r.Body, want = fmt.Sprintf(`{"display_name":"cold start %d"}`, s.n), 200
		case ev.Method == "DELETE":
			var err error
			r.Org = coldWrites
			if id, err = s.create(ctx, coldWrites, map[string]any{"provider": "mistral", "account_key": fmt.Sprintf("gone-%d-%d", time.Now().UnixNano(), s.n)}); err != nil {
				return nil, nil, err
			}
			want = 204
		}
		r.Path = strings.ReplaceAll(r.Path, "{credential_id}", id)
		b, err := json.Marshal(Event(r, time.Now()))
		return b, func(out []byte) error { return checkHTTP(out, want) }, err
	}
	// A scheduled function: EventBridge's event.
	b, err := json.Marshal(events.EventBridgeEvent{
		Version: "0", ID: "cold-start", DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Detail: json.RawMessage("{}"),
		Resources: []string{"arn:aws:events:us-east-1:123456789012:rule/refresh"},
	})
	return b, func(out []byte) error {
		if isFunctionError(out) {
			return fmt.Errorf("function error: %s", out)
		}
		return nil
	}, err
}

func isFunctionError(b []byte) bool {
	var fe struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	return json.Unmarshal(b, &fe) == nil && (fe.Message != "" || fe.Type != "")
}

func checkHTTP(out []byte, want int) error {
	if isFunctionError(out) {
		return fmt.Errorf("function error: %s", out)
	}
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &r); err != nil || r.StatusCode == 0 {
		return fmt.Errorf("not a payload 2.0 response: %s", out)
	}
	if (want != 0 && r.StatusCode != want) || r.StatusCode >= 500 {
		return fmt.Errorf("status %d, want %d: %s", r.StatusCode, want, r.Body)
	}
	return nil
}
