package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
	"github.com/acme/provider-credentials/shared/secrets"
	"github.com/acme/provider-credentials/shared/usage"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// fakeProvider speaks OpenAI's dialect (models, then one token of chat
// with rate-limit headers) after delay; hang makes it answer only when the
// client gives up. It counts requests, those served, and the most in
// flight at once; a hung one notes, each time a client gives up, how many
// requests peer had served by then.
type fakeProvider struct {
	*httptest.Server
	mu          sync.Mutex
	n, served   int
	inflight    int
	maxInflight int
	delay       time.Duration
	hang        bool
	peer        *fakeProvider
	peerServed  []int // peer's served count at each give-up
}

func newFakeProvider(t *testing.T, delay time.Duration, hang bool) *fakeProvider {
	f := &fakeProvider{delay: delay, hang: hang}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.inflight++
		f.maxInflight = max(f.maxInflight, f.inflight)
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.inflight--
			f.served++
			f.mu.Unlock()
		}()
		if f.hang {
			select {
			case <-r.Context().Done():
				f.mu.Lock()
				peer := f.peer
				f.mu.Unlock()
				if peer != nil {
					_, served, _ := peer.counts()
					f.mu.Lock()
					f.peerServed = append(f.peerServed, served)
					f.mu.Unlock()
				}
			case <-time.After(10 * time.Second):
			}
			return
		}
		time.Sleep(f.delay)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/models":
			_, _ = fmt.Fprint(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"llama-3.1-8b-instant","object":"model"}]}`)
		case "/v1/chat/completions":
			w.Header().Set("x-ratelimit-limit-tokens", "1000")
			w.Header().Set("x-ratelimit-remaining-tokens", "900")
			w.Header().Set("x-ratelimit-limit-requests", "100")
			w.Header().Set("x-ratelimit-remaining-requests", "99")
			_, _ = fmt.Fprint(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"H"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// counts returns the requests received, those served, and the most in
// flight at once.
func (f *fakeProvider) counts() (n, served, maxInflight int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.served, f.maxInflight
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
	env.SecretPrefix, env.StackName = env.Getenv("SECRET_PREFIX"), env.Getenv("STACK_NAME")
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
	w.keys = w.keys.WithStack(env.StackName)
	w.svc = credentials.NewService(w.store, credentials.Options{
		Keys: w.keys, Log: b.Log,
		BaseURLCheck: func(p, raw string) error { return usage.ValidateBaseURL(p, raw, true) },
	})
	return w
}

// stackTag is the tag the world's key store puts on its secrets.
func (w *world) stackTag() []smtypes.Tag {
	return []smtypes.Tag{{Key: aws.String(secrets.StackTag), Value: aws.String(w.env.StackName)}}
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
	r, err := scheduled.Runner(w.b, cfg, metrics)
	if err != nil {
		w.t.Fatalf("NewRunner: %v", err)
	}
	return r
}

// The refresh function's IAM policy in template.yaml allows these.
var allowedOps = []string{
	"DynamoDB.Scan", "DynamoDB.GetItem", "DynamoDB.PutItem", "DynamoDB.UpdateItem", "DynamoDB.BatchGetItem",
	"Secrets Manager.GetSecretValue", "Secrets Manager.ListSecrets", "Secrets Manager.DescribeSecret", "Secrets Manager.DeleteSecret",
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
	if rep.Seen != 7 || rep.Probed != 5 || rep.Reachable != 5 || rep.Ineligible != 2 || !rep.ReachedEnd || rep.Skipped {
		t.Errorf("report = %+v, want seen 7, probed 5, reachable 5, ineligible 2, reached end", rep.Stats)
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
	live := liveusage.New(w.store, secrets.NewKeyCache(w.keys, time.Minute, 100), w.b.Prober(), liveusage.Options{Fresh: time.Minute, Log: w.b.Log})
	src := dynamo.ScanSource{Store: w.store, PageSize: 3}

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
	if got := len(w.cached()); got != n || !st2.ReachedEnd {
		t.Fatalf("after run 2: %d cached (reached end %v), want %d", got, st2.ReachedEnd, n)
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
	hung.mu.Lock()
	hung.peer = good
	hung.mu.Unlock()
	rep, err := w.runner(&bytes.Buffer{}).Run(context.Background(), 0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Order and counts, not time: every probe deadline on the hung provider
	// fired after the healthy provider had served all its requests (two per
	// probe: models, then chat), and the hung provider never had more than
	// REFRESH_PER_PROVIDER requests waiting at once, so its four probes
	// went in two waves.
	goodN, goodServed, _ := good.counts()
	hungN, _, hungMax := hung.counts()
	hung.mu.Lock()
	gaveUp := slices.Clone(hung.peerServed)
	hung.mu.Unlock()
	if goodN != 8 || goodServed != 8 {
		t.Errorf("healthy provider: %d requests, %d served; want 8 and 8", goodN, goodServed)
	}
	if len(gaveUp) != hungN || hungN < 4 {
		t.Errorf("hung provider: %d requests, %d ended by the probe deadline; want each of at least 4 ended by it", hungN, len(gaveUp))
	}
	for i, served := range gaveUp {
		if served != goodServed {
			t.Errorf("hung request %d hit its deadline when the healthy provider had served %d of %d requests: want all of them first", i+1, served, goodServed)
		}
	}
	if hungMax != 2 {
		t.Errorf("hung provider: at most %d requests at once, want 2 (REFRESH_PER_PROVIDER)", hungMax)
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
		if _, err := w.env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String(`{"api_key":"x"}`), Tags: w.stackTag()}); err != nil {
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
	lister := secrets.NewLister(w.keys, w.env.SM)
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

// The lease on a segment's cursor item, on DynamoDB (moto): taken with the
// cursor read, refused while held, free once ended, given back with the
// save, and a save by a run whose lease was taken over writes nothing.
func TestCursorLease(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	now := time.Now()
	if _, err := w.store.AcquireCursor(ctx, 0, 1, "a", now, now.Add(time.Minute)); err != nil {
		t.Fatalf("a: %v", err)
	}
	if _, err := w.store.AcquireCursor(ctx, 0, 1, "b", now, now.Add(time.Minute)); !errors.Is(err, refresh.ErrLeaseHeld) {
		t.Fatalf("b while a holds it: %v, want ErrLeaseHeld", err)
	}
	if _, err := w.store.AcquireCursor(ctx, 1, 2, "b", now, now.Add(time.Minute)); err != nil {
		t.Fatalf("b on another segment: %v", err)
	}
	later := now.Add(2 * time.Minute) // a's lease has ended (a Lambda past its deadline)
	if _, err := w.store.AcquireCursor(ctx, 0, 1, "b", later, later.Add(time.Minute)); err != nil {
		t.Fatalf("b after a's lease ended: %v", err)
	}
	if err := w.store.SaveCursor(ctx, 0, 1, "a", `{"pk":"a","sk":"CRED#a"}`, "t"); !errors.Is(err, refresh.ErrLeaseLost) {
		t.Fatalf("a's save after b took over: %v, want ErrLeaseLost", err)
	}
	const pos = `{"pk":"b","sk":"CRED#b"}`
	if err := w.store.SaveCursor(ctx, 0, 1, "b", pos, "t"); err != nil {
		t.Fatalf("b's save: %v", err)
	}
	got, err := w.store.AcquireCursor(ctx, 0, 1, "c", later, later.Add(time.Minute))
	if err != nil || got != pos {
		t.Fatalf("c after b's save = %q, %v; want b's position and the lease", got, err)
	}
}

// Two runs of one segment at once, on moto: the second finds the lease
// held, probes nothing, sweeps nothing, makes one AWS call, and says so in
// its summary and metrics.
func TestRefreshOverlappingRunSkips(t *testing.T) {
	ctx := context.Background()
	fake := newFakeProvider(t, 0, false)
	w := newWorld(t)
	for i := range 3 {
		w.create(fmt.Sprintf("org-l%d", i), "openai", fake.URL+"/v1", "sk-lease-key-0000", true)
	}
	first := &blockRefresher{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan refresh.Stats)
	go func() {
		st, err := refresh.NewEngine(dynamo.ScanSource{Store: w.store, PageSize: 1000}, w.store, first, refresh.Options{Log: w.b.Log}).Run(ctx, one)
		if err != nil {
			t.Errorf("run 1: %v", err)
		}
		done <- st
	}()
	<-first.started // run 1 holds the lease and has read its only page

	var metrics bytes.Buffer
	w.env.Calls.Reset()
	rep, err := w.runner(&metrics).Run(ctx, 0)
	ops := w.env.Calls.Ops()
	close(first.release)
	st1 := <-done
	if err != nil || !rep.Skipped || rep.Probed != 0 || rep.Seen != 0 || rep.Sweep != nil {
		t.Fatalf("overlapping run = %+v (sweep %v), %v; want skipped: nothing read, probed or swept", rep.Stats, rep.Sweep, err)
	}
	if !slices.Equal(ops, []string{"DynamoDB.UpdateItem"}) {
		t.Errorf("overlapping run's AWS calls = %v, want only the lease attempt", ops)
	}
	if !strings.Contains(w.logs(), `"skipped":true`) {
		t.Errorf("summary does not say skipped:\n%s", w.logs())
	}
	var emf map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &emf); err != nil || emf["RunsSkipped"] != float64(1) {
		t.Errorf("EMF = %s (%v), want RunsSkipped 1", metrics.String(), err)
	}
	if st1.Skipped || st1.Probed != 3 || !st1.ReachedEnd {
		t.Fatalf("run 1 = %+v, want 3 probed", st1)
	}
	rep, err = w.runner(&bytes.Buffer{}).Run(ctx, 0)
	if err != nil || rep.Skipped || rep.Probed != 3 {
		t.Fatalf("run after run 1 saved its cursor = %+v, %v; want the lease taken and 3 probed", rep.Stats, err)
	}
}

// The credential at the saved cursor is deleted between runs, on moto: the
// next run resumes after its position and stops at the segment's end, so
// it probes no credential twice; the one after starts over.
func TestRefreshCursorCredentialDeletedBetweenRuns(t *testing.T) {
	ctx := context.Background()
	fake := newFakeProvider(t, 0, false)
	w := newWorld(t)
	const n = 19
	for i := range n {
		w.create(fmt.Sprintf("org-c%d", i), "openai", fake.URL+"/v1", "sk-cursor-key-0000", true)
	}
	page, err := w.store.ScanCredentials(ctx, 0, 1, "", 1000)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	var creds []refresh.ScanItem
	for _, it := range page.Items {
		if it.Credential != nil {
			creds = append(creds, it)
		}
	}
	at := creds[9] // as a run that stopped for time after it would have left it
	if _, err := w.store.AcquireCursor(ctx, 0, 1, "earlier-run", time.Now(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := w.store.SaveCursor(ctx, 0, 1, "earlier-run", at.Pos, "t"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Delete(ctx, at.Credential.OrgID, at.Credential.ID); err != nil {
		t.Fatalf("delete %s: %v", at.Credential.ID, err)
	}
	live := liveusage.New(w.store, secrets.NewKeyCache(w.keys, time.Minute, 100), w.b.Prober(), liveusage.Options{Fresh: time.Minute, Log: w.b.Log})
	src := dynamo.ScanSource{Store: w.store, PageSize: 4}
	for run, want := range []int{len(creds) - 10, n - 1} { // run 1: those after the cursor; run 2: all
		rec := &recorder{next: live}
		st, err := refresh.NewEngine(src, w.store, rec, refresh.Options{Concurrency: 4, PerProvider: 2, Log: w.b.Log}).Run(ctx, one)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		ids := slices.Sorted(slices.Values(rec.ids))
		if d := len(slices.Compact(slices.Clone(ids))); d != len(ids) || len(ids) > n-1 {
			t.Fatalf("run %d: %d probes of %d distinct credentials (%d exist): want each at most once", run+1, len(ids), d, n-1)
		}
		if slices.Contains(ids, at.Credential.ID) || !st.ReachedEnd || len(ids) != want {
			t.Fatalf("run %d: %d probed (want %d), reached end %v", run+1, len(ids), want, st.ReachedEnd)
		}
		if pos, err := w.store.AcquireCursor(ctx, 0, 1, "check", time.Now(), time.Now()); err != nil || pos != "" {
			t.Fatalf("cursor after run %d = %q, %v; want \"\" (start over)", run+1, pos, err)
		}
		// Give the check's lease back (it ends at once anyway).
		if err := w.store.SaveCursor(ctx, 0, 1, "check", "", "t"); err != nil {
			t.Fatal(err)
		}
	}
}

// raceClaims runs claim right after the sweep's bulk claim check: the
// sweep's re-check must see what it did.
type raceClaims struct {
	*dynamo.Store
	claim func()
	once  sync.Once
}

func (r *raceClaims) ClaimedSecrets(ctx context.Context, refs []refresh.SecretClaim) (map[int]bool, error) {
	claimed, err := r.Store.ClaimedSecrets(ctx, refs)
	r.once.Do(r.claim)
	return claimed, err
}

// A secret that a credential comes to claim between the bulk claim check
// and its deletion (a create whose metadata write lands late) is spared.
// (A key set again after a clear never does: it gets a secret of its own.)
func TestSweepSparesASecretClaimedAfterTheClaimCheck(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	cred := credentials.Credential{ID: credentials.NewID(), OrgID: "org-r", Provider: "openai", AccountKey: "k", Active: true,
		CreatedAt: time.Now(), UpdatedAt: time.Now(), Revision: 1}
	name := w.keys.Name(cred.OrgID, cred.ID)
	out, err := w.env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String(`{"api_key":"sk-late-landing-0001"}`), Tags: w.stackTag()})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	claims := &raceClaims{Store: w.store, claim: func() {
		c := cred
		c.HasAPIKey, c.SecretName, c.KeyVersion = true, name, aws.ToString(out.VersionId)
		if err := w.store.Create(ctx, c); err != nil {
			t.Errorf("the late create: %v", err)
		}
	}}
	later := time.Now().Add(2 * time.Hour)
	st, err := refresh.Sweep(ctx, secrets.NewLister(w.keys, w.env.SM), claims, w.keys,
		refresh.SweepOptions{Now: func() time.Time { return later }, Log: w.b.Log})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if st.Deleted != 0 || st.Spared != 1 {
		t.Fatalf("sweep = %+v; want the claimed secret spared, nothing deleted", st)
	}
	d, err := w.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
	if err != nil || d.DeletedDate != nil {
		t.Fatalf("secret after the sweep: %v (deleted %v); want it live", err, d.DeletedDate)
	}
	c, err := w.svc.Get(ctx, cred.OrgID, cred.ID)
	if err != nil || !c.HasAPIKey || c.SecretName != name {
		t.Fatalf("credential = %+v, %v; want it to claim %s", c, err, name)
	}
}

// A key set again after it was cleared gets a secret of its own: the
// cleared key's secret is not brought back (its key is gone once the
// recovery window ends), and the sweep leaves the new one alone.
func TestKeySetAgainAfterAClearGetsANewSecret(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	first := "sk-cleared-key-0001"
	c, err := w.svc.Create(ctx, "org-g", credentials.CreateInput{Provider: "openai", AccountKey: "g", APIKey: &first})
	if err != nil {
		t.Fatal(err)
	}
	old := c.SecretName
	empty, again := "", "sk-set-again-0002"
	if _, err := w.svc.Update(ctx, "org-g", c.ID, credentials.UpdateInput{APIKey: &empty}); err != nil {
		t.Fatal(err)
	}
	c, err = w.svc.Update(ctx, "org-g", c.ID, credentials.UpdateInput{APIKey: &again})
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretName == old {
		t.Fatalf("the key set again went into the cleared key's secret %s", old)
	}
	d, err := w.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &old})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("the cleared key's secret: %v, deleted %v; want it still scheduled for deletion", err, d.DeletedDate)
	}
	if got, err := w.keys.Key(ctx, c.SecretName, c.KeyVersion); err != nil || got != again {
		t.Fatalf("the new key reads %v", err)
	}
	later := time.Now().Add(2 * time.Hour)
	st, err := refresh.Sweep(ctx, secrets.NewLister(w.keys, w.env.SM), w.store, w.keys,
		refresh.SweepOptions{Now: func() time.Time { return later }, Log: w.b.Log})
	if err != nil || st.Deleted != 0 || st.Restored != 0 {
		t.Fatalf("sweep = %+v, %v; want nothing deleted or restored (the new secret is claimed, the old one's deletion runs)", st, err)
	}
}

// A request killed (timeout) between scheduling a secret's deletion and
// writing the credential leaves a credential that still claims a secret
// scheduled for deletion. The sweep restores it once the deletion is old
// enough and the credential is not locked; a deletion nobody claims is
// left to run.
func TestSweepRestoresAClaimedSecretScheduledForDeletion(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fake := newFakeProvider(t, 0, false)
	schedule := func(name string) {
		t.Helper()
		if err := w.keys.ScheduleDelete(ctx, name); err != nil {
			t.Fatalf("schedule deletion of %s: %v", name, err)
		}
	}
	pendingDeletion := func(name string) bool {
		t.Helper()
		out, err := w.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
		if err != nil {
			t.Fatalf("describe %s: %v", name, err)
		}
		return out.DeletedDate != nil
	}
	// Killed after DeleteSecret, before the credential write: the
	// credential still has its key and names the secret.
	killed := w.create("org-killed", "openai", fake.URL+"/v1", "sk-killed-key-0001", true)
	schedule(killed.SecretName)
	// The same, but a request holds the credential's lock (for an hour, so
	// still held at the sweep's clock below): it may be about to write.
	locked := w.create("org-locked", "openai", fake.URL+"/v1", "sk-locked-key-0001", true)
	if _, err := w.store.Lock(ctx, locked.OrgID, locked.ID, "in-flight", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("lock: %v", err)
	}
	schedule(locked.SecretName)
	// Deleted and cleared as asked: nobody claims the secret.
	gone := w.create("org-gone", "openai", fake.URL+"/v1", "sk-gone-key-00001", true)
	if err := w.svc.Delete(ctx, gone.OrgID, gone.ID); err != nil {
		t.Fatalf("delete credential: %v", err)
	}
	cleared := w.create("org-cleared", "openai", fake.URL+"/v1", "sk-cleared-key-001", true)
	empty := ""
	if _, err := w.svc.Update(ctx, cleared.OrgID, cleared.ID, credentials.UpdateInput{APIKey: &empty}); err != nil {
		t.Fatalf("clear key: %v", err)
	}
	for _, n := range []string{killed.SecretName, locked.SecretName, gone.SecretName, cleared.SecretName} {
		if !pendingDeletion(n) {
			t.Fatalf("%s not scheduled for deletion before the sweep", n)
		}
	}

	lister := secrets.NewLister(w.keys, w.env.SM)
	sweep := func(now time.Time) refresh.SweepStats {
		t.Helper()
		st, err := refresh.Sweep(ctx, lister, w.store, w.keys, refresh.SweepOptions{Now: func() time.Time { return now }, Log: w.b.Log})
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		return st
	}

	// Just scheduled: a request may still be in flight, nothing is restored.
	if st := sweep(time.Now()); st.Restored != 0 || st.Pending != 4 {
		t.Fatalf("sweep right after = %+v; want 4 pending, none restored", st)
	}
	// Ten minutes on: only the killed request's secret comes back.
	st := sweep(time.Now().Add(10 * time.Minute))
	if st.Pending != 4 || st.Restored != 1 || st.RestoreHeld != 1 || st.RestoreFailed != 0 || st.Deleted != 0 {
		t.Fatalf("sweep 10 min on = %+v; want 4 pending, 1 restored, 1 held (locked), nothing deleted", st)
	}
	for _, tt := range []struct {
		name, secret string
		pending      bool
	}{
		{"claimed, unlocked", killed.SecretName, false},
		{"claimed, locked", locked.SecretName, true},
		{"credential deleted", gone.SecretName, true},
		{"key cleared", cleared.SecretName, true},
	} {
		if got := pendingDeletion(tt.secret); got != tt.pending {
			t.Errorf("%s: %s scheduled for deletion = %v, want %v", tt.name, tt.secret, got, tt.pending)
		}
	}
	key, err := w.keys.Key(ctx, killed.SecretName, killed.KeyVersion)
	if err != nil || key != "sk-killed-key-0001" {
		t.Fatalf("restored key = %q, %v; want the credential's key back", key, err)
	}
	if !strings.Contains(w.logs(), "restored a secret scheduled for deletion") {
		t.Errorf("no log line for the restore:\n%s", w.logs())
	}
	// Two hours on, the lock (an hour) is a dead request's: restored too.
	if st := sweep(time.Now().Add(2 * time.Hour)); st.Restored != 1 || pendingDeletion(locked.SecretName) {
		t.Fatalf("sweep after the lock expired = %+v; want the locked credential's secret restored", st)
	}
	if pendingDeletion(killed.SecretName) || !pendingDeletion(gone.SecretName) || !pendingDeletion(cleared.SecretName) {
		t.Fatalf("after the last sweep: want only the unclaimed secrets still scheduled for deletion")
	}
}
