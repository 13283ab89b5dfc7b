package rie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/changefeed"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/fakeprovider"
	"github.com/acme/provider-credentials/shared/dev/streamfeed"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
)

// TestHealthFeedEndToEnd: the scheduled refresh (scheduled.Runner over
// moto) probes a fake provider that accepts a key, starts rejecting it
// (401), and accepts it again; the health writes it makes on the
// credential's item come out of the table's stream through the publisher's
// handler (changefeed, as PublishEventsFunction runs it) onto EventBridge,
// and a rule delivers them to an SQS queue. Read back: one Health Changed
// to failing (invalid_key), one back to ok, nothing for the first ok nor
// for runs that change nothing, never a Credential Updated; and a Quota
// Low once (QUOTA_LOW_PERCENT as set): not again on the next run within the
// same reset, nor in the next window of a short one (liveusage.QuotaLowRepeat).
func TestHealthFeedEndToEnd(t *testing.T) {
	const key = "sk-healthfeed-key-" + "4f9c2d7e1a3b5c6d-WXYZ"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	provider := fakeprovider.NewOpenAI()
	provider.SetRequests(1000, 900, "30m0s")
	fake := httptest.NewServer(provider)
	t.Cleanup(fake.Close)

	env := awstest.New(t)
	env.Set("REFRESH_SWEEP_MAX_DELETES", "0")
	env.Set("QUOTA_LOW_PERCENT", "50") // the refresh honours it: 42 % left is low
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	source := "test." + strings.ToLower(credentials.NewID()[:8])
	queue := subscribe(ctx, t, cfg, source)

	var logs lockedBuffer
	b, err := app.NewBuilder(ctx, env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatal(err)
	}
	b.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	svc, err := b.Service(true)
	if err != nil {
		t.Fatal(err)
	}
	base := fake.URL + "/v1"
	c, err := svc.Create(credentials.WithActor(ctx, "alice"), "org-hf", credentials.CreateInput{Provider: "openai", AccountKey: "prod", APIKey: ptr(key), BaseURL: &base})
	if err != nil {
		t.Fatal(err)
	}
	rcfg, err := refresh.LoadConfig(env.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := scheduled.Runner(b, rcfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	reader, err := streamfeed.Open(ctx, env.DDB, dynamodbstreams.NewFromConfig(cfg), env.CredTable, cfg.Region)
	if err != nil {
		t.Fatal(err)
	}
	publisher := changefeed.New(eventbridge.NewFromConfig(cfg), changefeed.Config{Bus: "default", Source: source},
		slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service and publisher logs:\n%s", logs.String())
		}
	})
	// run refreshes once and publishes what the stream has since.
	run := func(step string) {
		t.Helper()
		rep, err := runner.Run(ctx, 0)
		if err != nil {
			t.Fatalf("%s: refresh: %v", step, err)
		}
		if rep.Probed != 1 || rep.Skipped {
			t.Fatalf("%s: refresh report %+v: the credential was not probed", step, rep)
		}
		batches, err := reader.Poll(ctx)
		if err != nil {
			t.Fatalf("%s: poll: %v", step, err)
		}
		if err := reader.Deliver(ctx, batches, publisher.Handle); err != nil {
			t.Fatalf("%s: deliver: %v", step, err)
		}
	}
	var all []healthMessage
	expect := func(step string, want ...string) {
		t.Helper()
		// As Lambda would, deliver again what a failed delivery left
		// (rewound) before reading the queue; nothing new: no call.
		batches, err := reader.Poll(ctx)
		if err != nil {
			t.Fatalf("%s: poll: %v", step, err)
		}
		if err := reader.Deliver(ctx, batches, publisher.Handle); err != nil {
			t.Fatalf("%s: deliver: %v", step, err)
		}
		got := receiveHealth(ctx, t, queue, len(want))
		all = append(all, got...)
		var types []string
		for _, m := range got {
			types = append(types, m.DetailType)
		}
		if !slices.Equal(types, want) {
			t.Fatalf("%s: events %v, want %v", step, types, want)
		}
	}

	run("accepted")       // unknown → ok: not news
	run("accepted again") // nothing changed: no write
	expect("created, then ok twice", changefeed.TypeCreated)

	provider.Reject(true)
	run("rejected")
	run("still rejected")
	expect("rejected", changefeed.TypeHealthChanged)
	if d := all[len(all)-1].Detail; d.Status != "failing" || d.PreviousStatus != "ok" || d.ErrorCode == nil || *d.ErrorCode != "invalid_key" ||
		d.FailingSince == nil || d.LastOKAt == nil || d.Actor != nil || d.CredentialID != c.ID || d.OrgID != "org-hf" || d.Provider != "openai" || d.AccountKey != "prod" {
		t.Errorf("failing event detail %+v", d)
	}

	provider.Reject(false)
	run("accepted once more")
	run("accepted, nothing new")
	expect("recovered", changefeed.TypeHealthChanged)
	if d := all[len(all)-1].Detail; d.Status != "ok" || d.PreviousStatus != "failing" || d.ErrorCode != nil || d.FailingSince != nil ||
		d.PreviousErrorCode == nil || *d.PreviousErrorCode != "invalid_key" {
		t.Errorf("ok event detail %+v", d)
	}

	// The requests window runs low (42 % left, under QUOTA_LOW_PERCENT)
	// and resets in 3 s.
	provider.SetRequests(1000, 420, "3s")
	run("quota low")
	run("quota low, same window")
	expect("quota low", changefeed.TypeQuotaLow)
	q := all[len(all)-1].Detail
	if q.Window != "requests" || q.RemainingPct == nil || *q.RemainingPct != 42 || q.ResetAt == "" || q.Actor != nil {
		t.Fatalf("quota event detail %+v", q)
	}
	firstReset, err := time.Parse(time.RFC3339Nano, q.ResetAt)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(firstReset) + 100*time.Millisecond)
	run("quota low, the short window's next one")
	if extra := receiveHealth(ctx, t, queue, 0); len(extra) != 0 {
		t.Errorf("%d more events after the runs: %+v", len(extra), extra)
	}

	for _, m := range all {
		if m.DetailType == changefeed.TypeUpdated || m.DetailType == changefeed.TypeKeyChanged {
			t.Errorf("a health write published %s", m.DetailType)
		}
		if m.Detail.Revision != 0 && m.DetailType != changefeed.TypeCreated {
			t.Errorf("%s carries revision %d; health events carry none", m.DetailType, m.Detail.Revision)
		}
		for _, frag := range []string{key[:len(key)-4], key[3:20], "fingerprint"} {
			if bytes.Contains(m.raw, []byte(frag)) {
				t.Errorf("%s holds %q: %s", m.DetailType, frag, m.raw)
			}
		}
	}
	if strings.Contains(logs.String(), key[3:20]) {
		t.Error("the key leaked into the logs")
	}
}

func ptr[T any](v T) *T { return &v }

// healthMessage is an event as the rule's target receives it, with the
// health and quota fields of its detail.
type healthMessage struct {
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Detail     struct {
		changefeed.Base
		Status            string   `json:"status"`
		PreviousStatus    string   `json:"previous_status"`
		ErrorCode         *string  `json:"error_code"`
		PreviousErrorCode *string  `json:"previous_error_code"`
		FailingSince      *string  `json:"failing_since"`
		LastOKAt          *string  `json:"last_ok_at"`
		Window            string   `json:"window"`
		RemainingPct      *float64 `json:"remaining_pct"`
		ResetAt           string   `json:"reset_at"`
	} `json:"detail"`
	raw []byte
}

// receiveHealth reads n events as receive does (n 0: until the queue stays
// empty), in the order of their detail time.
func receiveHealth(ctx context.Context, t *testing.T, queueURL string, n int) []healthMessage {
	t.Helper()
	var out []healthMessage
	for _, m := range receive(ctx, t, queueURL, n) {
		var h healthMessage
		if err := json.Unmarshal(m.raw, &h); err != nil {
			t.Fatalf("message %s: %v", m.raw, err)
		}
		h.raw = m.raw
		out = append(out, h)
	}
	slices.SortStableFunc(out, func(a, b healthMessage) int { return strings.Compare(a.Detail.Time, b.Detail.Time) })
	return out
}

// lockedBuffer is a bytes.Buffer two loggers can write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
