package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/awstest"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
	"github.com/acme/provider-credentials/shared/usage"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// fakeProvider speaks OpenAI's dialect (models, then one token of chat
// with rate-limit headers) after delay; hang makes it answer only when the
// client gives up. It counts requests and remembers when the last came.
type fakeProvider struct {
	*httptest.Server
	mu    sync.Mutex
	n     int
	last  time.Time
	delay time.Duration
	hang  bool
}

func newFakeProvider(t *testing.T, delay time.Duration, hang bool) *fakeProvider {
	f := &fakeProvider{delay: delay, hang: hang}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.last = time.Now()
		f.mu.Unlock()
		if f.hang {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		time.Sleep(f.delay)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"llama-3.1-8b-instant","object":"model"}]}`)
		case "/v1/chat/completions":
			w.Header().Set("x-ratelimit-limit-tokens", "1000")
			w.Header().Set("x-ratelimit-remaining-tokens", "900")
			w.Header().Set("x-ratelimit-limit-requests", "100")
			w.Header().Set("x-ratelimit-remaining-requests", "99")
			fmt.Fprint(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"H"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeProvider) lastRequest() (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.last
}

// world is one test's AWS stack and the pieces built over it.
type world struct {
	t     *testing.T
	env   *awstest.Env
	b     *app.Builder
	store *dynamo.Store
	keys  *secrets.Store
	svc   *credentials.Service
	log   *bytes.Buffer
	logMu *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newWorld(t *testing.T, vars ...string) *world {
	t.Helper()
	env := awstest.New(t)
	for i := 0; i+1 < len(vars); i += 2 {
		env.Set(vars[i], vars[i+1])
	}
	ctx := context.Background()
	b, err := app.NewBuilder(ctx, env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	w := &world{t: t, env: env, b: b, log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	b.Log = slog.New(slog.NewJSONHandler(lockedWriter{w.logMu, w.log}, nil))
	w.store = dynamo.New(env.DDB, env.CredTable, env.UsageTable)
	if w.keys, err = secrets.New(env.SM, env.SecretPrefix, 7); err != nil {
		t.Fatalf("secrets.New: %v", err)
	}
	w.svc = credentials.NewService(w.store, credentials.WithKeyStore(w.keys), credentials.WithLogger(b.Log),
		credentials.WithBaseURLCheck(func(p, raw string) error { return usage.ValidateBaseURL(p, raw, true) }))
	return w
}

func (w *world) logs() string {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.log.String()
}

func (w *world) create(org, provider, base string, key string, active bool) credentials.Credential {
	w.t.Helper()
	in := credentials.CreateInput{Provider: provider, AccountKey: credentials.NewID()[:8], BaseURL: &base, Active: &active}
	if key != "" {
		in.APIKey = &key
	}
	c, err := w.svc.Create(context.Background(), org, in)
	if err != nil {
		w.t.Fatalf("create credential: %v", err)
	}
	return c
}

// cached returns the usage rows: credential id → result.
func (w *world) cached() map[string]usage.Result {
	w.t.Helper()
	out, err := w.env.DDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &w.env.UsageTable})
	if err != nil {
		w.t.Fatalf("scan usage: %v", err)
	}
	var rows []struct {
		SK     string `dynamodbav:"sk"`
		Result string `dynamodbav:"result"`
	}
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &rows); err != nil {
		w.t.Fatalf("decode usage rows: %v", err)
	}
	got := map[string]usage.Result{}
	for _, r := range rows {
		var res usage.Result
		if err := json.Unmarshal([]byte(r.Result), &res); err != nil {
			w.t.Fatalf("usage row %s: %v", r.SK, err)
		}
		got[r.SK] = res
	}
	return got
}

func (w *world) runner(metrics *bytes.Buffer) *refresh.Runner {
	w.t.Helper()
	cfg, err := refresh.LoadConfig(w.env.Getenv)
	if err != nil {
		w.t.Fatalf("LoadConfig: %v", err)
	}
	r, err := refresh.NewRunner(w.b, cfg, metrics)
	if err != nil {
		w.t.Fatalf("NewRunner: %v", err)
	}
	return r
}

// The refresh function's IAM policy in template.yaml allows these.
var allowedOps = []string{
	"DynamoDB.Scan", "DynamoDB.GetItem", "DynamoDB.PutItem", "DynamoDB.BatchGetItem",
	"Secrets Manager.GetSecretValue", "Secrets Manager.ListSecrets", "Secrets Manager.DeleteSecret",
}

func TestRefreshEveryActiveCredentialWithAKey(t *testing.T) {
	const key = "sk-refresh-test-key-ZZZZ"
	fake := newFakeProvider(t, 0, false)
	w := newWorld(t)
	base := fake.URL + "/v1"
	var want []string
	for i := range 5 {
		want = append(want, w.create(fmt.Sprintf("org-%d", i%3), "openai", base, key, true).ID)
	}
	inactive := w.create("org-0", "openai", base, key, false)
	keyless := w.create("org-1", "openai_compatible", base, "", true)

	var metrics bytes.Buffer
	w.env.Calls.Reset()
	rep, err := w.runner(&metrics).Run(context.Background(), 0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := w.cached()
	for _, id := range want {
		if res, ok := got[id]; !ok || !res.Reachable {
			t.Errorf("credential %s: cached %v, reachable %v; want a reachable result", id, ok, res.Reachable)
		}
	}
	for name, id := range map[string]string{"inactive": inactive.ID, "keyless": keyless.ID} {
		if _, ok := got[id]; ok {
			t.Errorf("%s credential was probed, want it skipped", name)
		}
	}
	if rep.Seen != 7 || rep.Probed != 5 || rep.Reachable != 5 || rep.Ineligible != 2 || !rep.LapComplete {
		t.Errorf("report = %+v, want seen 7, probed 5, reachable 5, ineligible 2, lap complete", rep.Stats)
	}
	for _, op := range w.env.Calls.Ops() {
		if !slices.Contains(allowedOps, op) {
			t.Errorf("AWS call %s is not in the function's policy %v", op, allowedOps)
		}
	}
	var emf map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &emf); err != nil || emf["_aws"] == nil || emf["Probed"] != float64(5) {
		t.Errorf("EMF line = %s (err %v), want JSON with _aws and Probed 5", metrics.String(), err)
	}
	if !strings.Contains(w.logs(), `"msg":"refresh summary"`) {
		t.Errorf("no summary line in the log:\n%s", w.logs())
	}
	if strings.Contains(w.logs()+metrics.String(), key[len(key)-8:]) {
		t.Errorf("the API key leaked into the logs or metrics")
	}
}

// recorder wraps a Refresher and records the credentials refreshed, in
// order of start.
type recorder struct {
	next refresh.Refresher
	mu   sync.Mutex
	ids  []string
}

func (r *recorder) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	r.mu.Lock()
	r.ids = append(r.ids, c.ID)
	r.mu.Unlock()
	return r.next.Refresh(ctx, c)
}

func TestRefreshDeadlineMidRunNextRunPicksUpTheRest(t *testing.T) {
	fake := newFakeProvider(t, 150*time.Millisecond, false) // a probe: two requests, ~300 ms
	w := newWorld(t)
	const n = 16
	for i := range n {
		w.create(fmt.Sprintf("org-d%d", i%4), "openai", fake.URL+"/v1", "sk-deadline-key-0000", true)
	}
	live := liveusage.New(w.store, secrets.NewKeyCache(w.keys, time.Minute, 100), w.b.Prober(), time.Minute, w.b.Log)
	src := refresh.DynamoSource{Store: w.store, PageSize: 3}

	rec1 := &recorder{next: live}
	e1 := refresh.NewEngine(src, w.store, rec1, refresh.Options{Concurrency: 2, PerProvider: 2, StopBefore: 500 * time.Millisecond, ItemTimeout: 5 * time.Second, Log: w.b.Log})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	st1, err := e1.Run(ctx, one)
	if err != nil {
		t.Fatalf("run 1: %v", err)
	}
	done1 := w.cached()
	if !st1.StoppedForTime || st1.Probed == 0 || st1.Probed >= n || len(done1) != st1.Probed || st1.Reachable != st1.Probed {
		t.Fatalf("run 1: %+v, %d cached; want stopped for time, some but not all probed, each in-flight probe finished and cached", st1, len(done1))
	}

	rec2 := &recorder{next: live}
	e2 := refresh.NewEngine(src, w.store, rec2, refresh.Options{Concurrency: 1, PerProvider: 1, Log: w.b.Log})
	st2, err := e2.Run(context.Background(), one)
	if err != nil {
		t.Fatalf("run 2: %v", err)
	}
	left := n - len(done1)
	for i, id := range rec2.ids[:left] {
		if _, ok := done1[id]; ok {
			t.Fatalf("run 2's refresh #%d was %s, done in run 1; want the %d left over first", i+1, id, left)
		}
	}
	if got := len(w.cached()); got != n || !st2.LapComplete {
		t.Fatalf("after run 2: %d cached (lap complete %v), want %d", got, st2.LapComplete, n)
	}
}

func TestRefreshHungProviderDoesNotBlockOthers(t *testing.T) {
	good := newFakeProvider(t, 0, false)
	hung := newFakeProvider(t, 0, true)
	w := newWorld(t, "PROBE_TIMEOUT_SECONDS", "1", "REFRESH_CONCURRENCY", "4", "REFRESH_PER_PROVIDER", "2", "REFRESH_SWEEP_MAX_DELETES", "0")
	var goodIDs, hungIDs []string
	for i := range 4 {
		hungIDs = append(hungIDs, w.create("org-h", "groq", hung.URL+"/v1", fmt.Sprintf("gsk-hang-%d-key", i), true).ID)
		goodIDs = append(goodIDs, w.create("org-h", "openai", good.URL+"/v1", fmt.Sprintf("sk-good-%d-key", i), true).ID)
	}
	start := time.Now()
	rep, err := w.runner(&bytes.Buffer{}).Run(context.Background(), 0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	total := time.Since(start)
	_, last := good.lastRequest()
	if d := last.Sub(start); d > time.Second {
		t.Errorf("the healthy provider's last request came %v after the start, want within the 1 s probe deadline", d)
	}
	if total < 1500*time.Millisecond {
		t.Errorf("run took %v, want ≥ 2 waves of 1 s timeouts on the hung provider", total)
	}
	got := w.cached()
	for _, id := range goodIDs {
		if !got[id].Reachable {
			t.Errorf("healthy credential %s: reachable %v, want true", id, got[id].Reachable)
		}
	}
	for _, id := range hungIDs {
		if res, ok := got[id]; !ok || res.Reachable || res.Error == nil {
			t.Errorf("hung credential %s: cached %v, reachable %v; want an unreachable result", id, ok, res.Reachable)
		}
	}
	if rep.Reachable != 4 || rep.Unreachable != 4 {
		t.Errorf("reachable %d, unreachable %d; want 4 and 4", rep.Reachable, rep.Unreachable)
	}
}

func TestSweepOrphanedSecrets(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fake := newFakeProvider(t, 0, false)
	live := w.create("org-live", "openai", fake.URL+"/v1", "sk-live-key-0001", true)

	put := func(name string) {
		t.Helper()
		if _, err := w.env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String(`{"api_key":"x"}`)}); err != nil {
			t.Fatalf("create secret %s: %v", name, err)
		}
	}
	// Left by a crash between the secret and the credential.
	missing := w.keys.Name("org-a", credentials.NewID())
	escaped := w.keys.Name("acme/eu_1", credentials.NewID())
	// A credential whose key was cleared but whose secret is still live.
	keyless := credentials.Credential{ID: credentials.NewID(), OrgID: "org-b", Provider: "openai", AccountKey: "k", Active: true,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := w.store.Create(ctx, keyless); err != nil {
		t.Fatalf("store credential: %v", err)
	}
	unclaimed := w.keys.Name(keyless.OrgID, keyless.ID)
	foreign := w.env.SecretPrefix + "/not-a-credential"
	deleted := w.keys.Name("org-c", credentials.NewID())
	for _, n := range []string{missing, escaped, unclaimed, foreign, deleted} {
		put(n)
	}
	if err := w.keys.ScheduleDelete(ctx, deleted); err != nil {
		t.Fatalf("delete: %v", err)
	}
	lister := refresh.NewSecretLister(w.keys, w.env.SM)
	sweep := func(now time.Time, max int) refresh.SweepStats {
		t.Helper()
		st, err := refresh.Sweep(ctx, lister, w.store, w.keys, refresh.SweepOptions{Now: func() time.Time { return now }, MaxDeletes: max, Log: w.b.Log})
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		return st
	}
	scheduled := func(name string) bool {
		t.Helper()
		out, err := w.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
		if err != nil {
			t.Fatalf("describe %s: %v (want it scheduled, not force-deleted)", name, err)
		}
		if out.DeletedDate != nil && out.DeletedDate.Before(time.Now().Add(6*24*time.Hour)) {
			t.Errorf("%s deleted for %v, want the 7-day recovery window", name, out.DeletedDate)
		}
		return out.DeletedDate != nil
	}

	// Under an hour old: nothing is judged.
	if st := sweep(time.Now(), 10); st.Deleted != 0 {
		t.Fatalf("young secrets: deleted %d, want 0 (%+v)", st.Deleted, st)
	}
	// Two hours on, the cap of 2 takes two orphans, the next sweep the third.
	later := time.Now().Add(2 * time.Hour)
	st1 := sweep(later, 2)
	st2 := sweep(later, 2)
	st3 := sweep(later, 2)
	if got := []int{st1.Deleted, st2.Deleted, st3.Deleted}; !slices.Equal(got, []int{2, 1, 0}) {
		t.Fatalf("deleted per sweep = %v, want [2 1 0]", got)
	}
	tests := []struct {
		name, secret string
		want         bool
	}{
		{"no credential", missing, true},
		{"escaped org, no credential", escaped, true},
		{"credential without a key", unclaimed, true},
		{"claimed by a live credential", live.SecretName, false},
		{"not a credential name", foreign, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduled(tt.secret); got != tt.want {
				t.Errorf("%s scheduled for deletion = %v, want %v", tt.secret, got, tt.want)
			}
		})
	}
}

func TestRefreshSegmentsSplitTheTable(t *testing.T) {
	fake := newFakeProvider(t, 0, false)
	w := newWorld(t, "REFRESH_TOTAL_SEGMENTS", "3", "REFRESH_SWEEP_MAX_DELETES", "0")
	const n = 12
	for i := range n {
		w.create(fmt.Sprintf("org-s%d", i), "openai", fake.URL+"/v1", "sk-segment-key-0000", true)
	}
	r := w.runner(&bytes.Buffer{})
	probed := 0
	for seg := range 3 {
		rep, err := r.Run(context.Background(), seg)
		if err != nil {
			t.Fatalf("segment %d: %v", seg, err)
		}
		probed += rep.Probed
	}
	if got := len(w.cached()); got != n || probed != n {
		t.Fatalf("3 segments: %d cached, %d probes; want %d and %d (each credential in exactly one segment)", got, probed, n, n)
	}
	if _, err := r.Run(context.Background(), 3); err == nil {
		t.Fatalf("segment 3 of 3: no error, want one")
	}
}
