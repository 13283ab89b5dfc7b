package rie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/changefeed"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/rie"
	"github.com/acme/provider-credentials/shared/dev/streamfeed"
)

// TestChangeFeedEndToEnd: real writes on the emulator produce stream
// records; they go through the publisher's real bootstrap under the
// runtime emulator, and come out as events an EventBridge rule delivers to
// an SQS queue. A batch delivered twice gives the same event ids; an entry
// PutEvents fails is reported as a batch item failure, and the retry
// Lambda would make publishes it; no key's bytes appear in any event.
func TestChangeFeedEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := awstest.New(t)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	source := "test." + strings.ToLower(credentials.NewID()[:8])
	queue := subscribe(ctx, t, cfg, source)

	// The writes, through the real service and stores, as user "alice".
	b, err := app.NewBuilder(ctx, env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := b.Service(true)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"sk-e2e-first-key-" + credentials.NewID(), "sk-e2e-rotated-key-" + credentials.NewID()}
	actx := credentials.WithActor(ctx, "alice")
	c, err := svc.Create(actx, "org-e2e", credentials.CreateInput{Provider: "openai", AccountKey: "prod", APIKey: &keys[0]})
	if err != nil {
		t.Fatal(err)
	}
	// Failed requests publish nothing: a duplicate, a change of a missing
	// credential, an invalid change.
	if _, err := svc.Create(actx, "org-e2e", credentials.CreateInput{Provider: "openai", AccountKey: "prod"}); !credentials.IsKind(err, credentials.Conflict) {
		t.Fatalf("duplicate create: %v, want a conflict", err)
	}
	long := strings.Repeat("x", credentials.MaxDisplayName+1)
	if _, err := svc.Update(actx, "org-e2e", credentials.NewID(), credentials.UpdateInput{APIKey: &keys[1]}); !credentials.IsKind(err, credentials.NotFound) {
		t.Fatalf("update of a missing credential: %v, want not found", err)
	}
	if _, err := svc.Update(actx, "org-e2e", c.ID, credentials.UpdateInput{DisplayName: &long}); err == nil {
		t.Fatal("an over-long display name was accepted")
	}
	name, empty := "Production", ""
	for _, in := range []credentials.UpdateInput{{APIKey: &keys[1]}, {DisplayName: &name}, {APIKey: &empty}} {
		if _, err := svc.Update(actx, "org-e2e", c.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Delete(actx, "org-e2e", c.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{changefeed.TypeCreated, changefeed.TypeKeyChanged, changefeed.TypeUpdated, changefeed.TypeKeyChanged, changefeed.TypeDeleted}

	// The stream, read as Lambda's event source reads it: one batch.
	reader, err := streamfeed.Open(ctx, env.DDB, dynamodbstreams.NewFromConfig(cfg), env.CredTable, cfg.Region)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := reader.Poll(ctx)
	if err != nil || len(batches) != 1 {
		t.Fatalf("poll: %d batches, %v; want 1", len(batches), err)
	}
	batch := batches[0].Event
	t.Logf("%d stream records for %d events", len(batch.Records), len(want))

	// The publisher's bootstrap, its PutEvents through a proxy that can
	// fail one entry as EventBridge does (FailedEntryCount, ErrorCode).
	root := awstest.RepoRoot()
	bins, err := rie.Build(ctx, root, t.TempDir(), []string{"publish-events"})
	if err != nil {
		t.Fatal(err)
	}
	rieBin, err := rie.Binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fault := newEntryFault(t, awstest.Endpoint())
	inst, err := rie.Start(ctx, rieBin, bins["publish-events"], rie.Env(map[string]string{
		"AWS_ENDPOINT_URL": fault.URL, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_LAMBDA_FUNCTION_NAME": "PublishEventsFunction", "EVENT_BUS_NAME": "default", "EVENT_SOURCE": source,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	invoke := func(ev events.DynamoDBEvent) events.DynamoDBEventResponse {
		t.Helper()
		raw, _ := json.Marshal(ev)
		out, err := inst.Invoke(ctx, raw)
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, inst.Log())
		}
		if fe, ok := rie.AsFunctionError(out); ok {
			t.Fatalf("function error: %v\n%s", fe, inst.Log())
		}
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		return resp
	}

	// 1. Delivered once: every change, in order, once.
	if resp := invoke(batch); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v, want none", resp.BatchItemFailures)
	}
	first := receive(ctx, t, queue, len(want))
	if got := detailTypes(first); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	for _, m := range first {
		if m.Source != source || m.Detail.OrgID != "org-e2e" || m.Detail.CredentialID != c.ID || m.Detail.Provider != "openai" ||
			m.Detail.AccountKey != "prod" || m.Detail.Actor == nil || *m.Detail.Actor != "alice" || m.Detail.EventID == "" || m.Detail.Revision == 0 {
			t.Errorf("%s: source %s detail %+v; want org-e2e, %s, openai, prod, actor alice, an event_id and a revision", m.DetailType, m.Source, m.Detail, c.ID)
		}
	}
	// 2. The same batch again (Lambda delivers at least once): the same ids.
	invoke(batch)
	again := receive(ctx, t, queue, len(want))
	if !slices.Equal(eventIDs(again), eventIDs(first)) {
		t.Errorf("redelivered ids %v, want %v", eventIDs(again), eventIDs(first))
	}
	// 3. EventBridge fails the third entry: it and all after it are
	// reported; the retry from there publishes them, with the same ids.
	fault.failEntry.Store(2)
	resp := invoke(batch)
	fault.failEntry.Store(-1)
	if len(resp.BatchItemFailures) == 0 {
		t.Fatal("no batch item failures after a failed PutEvents entry")
	}
	from := slices.IndexFunc(batch.Records, func(r events.DynamoDBEventRecord) bool {
		return r.Change.SequenceNumber == resp.BatchItemFailures[0].ItemIdentifier
	})
	if from < 0 || len(resp.BatchItemFailures) != len(batch.Records)-from {
		t.Fatalf("failures %v: want a tail of the batch", resp.BatchItemFailures)
	}
	partial := receive(ctx, t, queue, len(want)-1) // every entry but the failed one went out
	retry := events.DynamoDBEvent{Records: batch.Records[from:]}
	if r := invoke(retry); len(r.BatchItemFailures) != 0 {
		t.Fatalf("retry: failures %v, want none", r.BatchItemFailures)
	}
	retried := receive(ctx, t, queue, 0)
	got := map[string]bool{}
	for _, m := range append(partial, retried...) {
		got[m.Detail.EventID] = true
	}
	for _, id := range eventIDs(first) {
		if !got[id] {
			t.Errorf("event %s not published after the failure and its retry", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct ids after the retry, want %d", len(got), len(want))
	}
	// 4. No key, nor any part of it past its last four, in any event.
	for _, m := range slices.Concat(first, again, partial, retried) {
		for _, k := range keys {
			if bytes.Contains(m.raw, []byte(k[:len(k)-4])) || bytes.Contains(m.raw, []byte(k[3:20])) {
				t.Errorf("%s holds key material: %s", m.DetailType, m.raw)
			}
		}
	}
}

// subscribe sends the events of source on the default bus to a new queue.
func subscribe(ctx context.Context, t *testing.T, cfg aws.Config, source string) string {
	t.Helper()
	q := sqs.NewFromConfig(cfg)
	eb := eventbridge.NewFromConfig(cfg)
	name := strings.ReplaceAll(source, ".", "-")
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: qo.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	pattern, _ := json.Marshal(map[string]any{"source": []string{source}})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: &name, EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: &name, Targets: []ebtypes.Target{
		{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes["QueueArn"])},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: &name, Ids: []string{"queue"}})
		_, _ = eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: &name})
		_, _ = q.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: qo.QueueUrl})
	})
	return *qo.QueueUrl
}

// message is an event as the rule's target receives it.
type message struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     changefeed.Base `json:"detail"`
	raw        []byte
}

// receive reads and deletes the queue's messages until n arrived (n 0:
// until the queue stays empty).
func receive(ctx context.Context, t *testing.T, queueURL string, n int) []message {
	t.Helper()
	cfg, _ := config.LoadDefaultConfig(ctx)
	q := sqs.NewFromConfig(cfg)
	var out []message
	deadline := time.Now().Add(15 * time.Second)
	for empty := 0; time.Now().Before(deadline) && (n == 0 && empty < 2 || n > 0 && len(out) < n); {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			empty++
		}
		for _, m := range r.Messages {
			var msg message
			msg.raw = []byte(aws.ToString(m.Body))
			if err := json.Unmarshal(msg.raw, &msg); err != nil {
				t.Fatalf("message %s: %v", msg.raw, err)
			}
			out = append(out, msg)
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queueURL, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if n > 0 && len(out) != n {
		t.Fatalf("received %d events, want %d: %v", len(out), n, detailTypes(out))
	}
	// Queues do not keep order: put them back in the order of the changes
	// (revision; a delete carries the revision it removed, and comes last).
	rank := func(m message) int64 {
		r := 2 * m.Detail.Revision
		if m.DetailType == changefeed.TypeDeleted {
			r++
		}
		return r
	}
	slices.SortStableFunc(out, func(a, b message) int { return int(rank(a) - rank(b)) })
	return out
}

func detailTypes(ms []message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.DetailType)
	}
	return out
}

func eventIDs(ms []message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Detail.EventID)
	}
	return out
}

// entryFault forwards to the emulator; when failEntry is set, the PutEvents
// entry of that index is withheld from the emulator and answered as
// EventBridge answers an entry it could not take.
type entryFault struct {
	URL       string
	failEntry atomic.Int64
}

func newEntryFault(t *testing.T, target string) *entryFault {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &entryFault{}
	f.failEntry.Store(-1)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		k := int(f.failEntry.Load())
		if req.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || k < 0 {
			proxy.ServeHTTP(w, req)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var in struct{ Entries []json.RawMessage }
		if err := json.Unmarshal(body, &in); err != nil || k >= len(in.Entries) {
			http.Error(w, "entryFault: bad request", http.StatusBadRequest)
			return
		}
		in.Entries = slices.Delete(in.Entries, k, k+1)
		fwd, _ := json.Marshal(in)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(fwd)), int64(len(fwd))
		req.Header.Del("Content-Length")
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, req)
		var out struct {
			FailedEntryCount int
			Entries          []json.RawMessage
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		out.Entries = slices.Insert(out.Entries, k, json.RawMessage(`{"ErrorCode":"InternalFailure","ErrorMessage":"injected"}`))
		out.FailedEntryCount++
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}
