package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/usage"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var one = refresh.Segment{Index: 0, Total: 1}

func TestEngineRefreshesEveryEligibleOnce(t *testing.T) {
	src := genSource{n: 250, pageSize: 40, providers: 3, inactiveEvery: 5}
	ref := &sleepRefresher{def: time.Millisecond, record: true, t0: time.Now()}
	e := refresh.NewEngine(src, &memCursors{}, ref, refresh.Options{Concurrency: 8, PerProvider: 4, Log: quiet()})
	st, err := e.Run(context.Background(), one)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := 250 - 50 // every 5th is inactive
	got := ref.startedIDs()
	slices.Sort(got)
	if len(slices.Compact(got)) != want || st.Probed != want || st.Reachable != want {
		t.Fatalf("probed %d distinct (stats %d, reachable %d), want %d", len(got), st.Probed, st.Reachable, want)
	}
	if st.Seen != 250 || st.Ineligible != 50 || !st.ReachedEnd || st.StoppedForTime || st.SkippedForTime != 0 || st.Skipped {
		t.Fatalf("stats = %+v, want seen 250, ineligible 50, reached end", st)
	}
}

// A run that hits its stop time leaves the rest to the next run, which
// starts with exactly what was left.
func TestEngineDeadlineResumesWhereItStopped(t *testing.T) {
	src := genSource{n: 60, pageSize: 7, providers: 2}
	cur := &memCursors{}
	ref1 := &sleepRefresher{def: 40 * time.Millisecond, record: true, t0: time.Now()}
	e1 := refresh.NewEngine(src, cur, ref1, refresh.Options{Concurrency: 4, PerProvider: 2, StopBefore: 200 * time.Millisecond, Log: quiet()})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	st1, err := e1.Run(ctx, one)
	if err != nil {
		t.Fatalf("run 1: %v", err)
	}
	if !st1.StoppedForTime || st1.Probed == 0 || st1.Probed >= 60 || st1.Reachable != st1.Probed {
		t.Fatalf("run 1 = %+v, want stopped for time with some probed, all in-flight finished (reachable)", st1)
	}
	first := map[string]bool{}
	for _, id := range ref1.startedIDs() {
		first[id] = true
	}

	ref2 := &sleepRefresher{def: time.Millisecond, record: true, t0: time.Now()}
	e2 := refresh.NewEngine(src, cur, ref2, refresh.Options{Concurrency: 1, PerProvider: 1, Log: quiet()})
	st2, err := e2.Run(context.Background(), one)
	if err != nil {
		t.Fatalf("run 2: %v", err)
	}
	started := ref2.startedIDs()
	rest := 60 - len(first)
	for i, id := range started[:rest] {
		if first[id] {
			t.Fatalf("run 2 refreshed %s (done in run 1) as its %d-th, before the %d left over", id, i+1, rest)
		}
	}
	all := maps.Clone(first)
	for _, id := range started {
		all[id] = true
	}
	if len(all) != 60 || !st2.ReachedEnd || st2.Probed != len(started) {
		t.Fatalf("runs 1 and 2 reached %d distinct credentials (run 2 reached the end: %v), want 60", len(all), st2.ReachedEnd)
	}
	if n := len(slices.Compact(slices.Sorted(slices.Values(started)))); n != len(started) {
		t.Fatalf("run 2 probed %d credentials, %d distinct: want none twice", len(started), n)
	}
	// Run 2 stopped at the segment's end, not round again: the next run starts over.
	if got := cur.get(0, 1); got != "" {
		t.Fatalf("cursor after a run that reached the end = %q, want \"\" (start over)", got)
	}
	ref3 := &sleepRefresher{def: time.Millisecond, record: true, t0: time.Now()}
	st3, err := refresh.NewEngine(src, cur, ref3, refresh.Options{Log: quiet()}).Run(context.Background(), one)
	if err != nil || st3.Probed != 60 || !st3.ReachedEnd {
		t.Fatalf("run 3 = %+v, %v; want all 60 probed from the start", st3, err)
	}
}

// The credential at the saved cursor is deleted between runs: the run
// resumes after its position, reads to the end of the segment and stops
// there, so no credential is probed twice (going round again and waiting
// to meet the cursor's item would never stop before the end).
func TestEngineCursorItemDeletedProbesEachAtMostOnce(t *testing.T) {
	for _, at := range []int{0, 9, 17, 18} {
		t.Run(fmt.Sprint("cursor at ", at), func(t *testing.T) {
			src := genSource{n: 19, pageSize: 4, providers: 3, deleted: map[int]bool{at: true}}
			cur := &memCursors{}
			cur.set(0, 1, strconv.Itoa(at))
			for run := 1; run <= 3; run++ {
				ref := &sleepRefresher{record: true, t0: time.Now()}
				st, err := refresh.NewEngine(src, cur, ref, refresh.Options{Concurrency: 4, PerProvider: 2, Log: quiet()}).Run(context.Background(), one)
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				ids := ref.startedIDs()
				slices.Sort(ids)
				if n := len(slices.Compact(slices.Clone(ids))); n != len(ids) || st.Probed != len(ids) {
					t.Fatalf("run %d probed %d credentials, %d distinct (stats %d): want each at most once", run, len(ids), n, st.Probed)
				}
				want := 18 // every credential but the deleted one
				if run == 1 {
					want = 18 - at // those after the cursor's position
				}
				if len(ids) != want || !st.ReachedEnd || cur.get(0, 1) != "" {
					t.Fatalf("run %d probed %d, reached end %v, cursor %q; want %d, true, \"\"", run, len(ids), st.ReachedEnd, cur.get(0, 1), want)
				}
			}
		})
	}
}

// gateRefresher holds every probe of provider hung until release is
// closed (it then answers unreachable) or its deadline ends it; the others
// answer at once. It records the providers in order of completion, and
// closes release itself once healthy probes of the others have completed.
type gateRefresher struct {
	hung    string
	healthy int
	release chan struct{}

	mu       sync.Mutex
	order    []string
	timedOut int
}

func (g *gateRefresher) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	res := usage.Result{Provider: c.Provider, AccountKey: c.AccountKey, CheckedAt: time.Now()}
	if c.Provider == g.hung {
		select {
		case <-g.release:
		case <-ctx.Done():
			g.mu.Lock()
			g.timedOut++
			g.mu.Unlock()
		}
	} else {
		res.Reachable = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.order = append(g.order, c.Provider)
	if c.Provider != g.hung {
		if g.healthy--; g.healthy == 0 {
			close(g.release)
		}
	}
	return res, nil
}

// provider-0 hangs: its probes end only when the healthy provider's 20
// are all done (or, were those stuck behind it, at the probe deadline).
// Order, not time: every healthy probe completes before any hung one, and
// none of the hung ones needed its deadline.
func TestEngineHungProviderDoesNotBlockOthers(t *testing.T) {
	src := genSource{n: 40, pageSize: 10, providers: 2}
	ref := &gateRefresher{hung: "provider-0", healthy: 20, release: make(chan struct{})}
	e := refresh.NewEngine(src, &memCursors{}, ref, refresh.Options{Concurrency: 8, PerProvider: 4, ItemTimeout: 2 * time.Second, Log: quiet()})
	st, err := e.Run(context.Background(), one)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Reachable != 20 || st.Unreachable != 20 {
		t.Fatalf("reachable %d, unreachable %d, want 20 and 20", st.Reachable, st.Unreachable)
	}
	if ref.timedOut != 0 {
		t.Fatalf("%d hung probes ran into their deadline: the healthy provider's probes waited behind them", ref.timedOut)
	}
	if i := slices.Index(ref.order, "provider-0"); i != 20 || slices.Contains(ref.order[i:], "provider-1") {
		t.Fatalf("completion order %v: want all 20 of provider-1 before any of provider-0", ref.order)
	}
}

// blockRefresher holds every probe until release is closed; started is
// closed at the first.
type blockRefresher struct {
	started, release chan struct{}
	once             sync.Once
	n                atomic.Int64
}

func (b *blockRefresher) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	b.n.Add(1)
	b.once.Do(func() { close(b.started) })
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return usage.Result{Provider: c.Provider, Reachable: true}, nil
}

// Two runs of one segment overlap (the schedule does not wait for the
// last run): the second finds the lease held and probes nothing; once the
// first has saved its cursor, a third takes the lease.
func TestEngineOverlappingRunsOfOneSegment(t *testing.T) {
	src := genSource{n: 30, pageSize: 10, providers: 3}
	cur := &memCursors{}
	first := &blockRefresher{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan refresh.Stats)
	go func() {
		st, err := refresh.NewEngine(src, cur, first, refresh.Options{Log: quiet()}).Run(context.Background(), one)
		if err != nil {
			t.Errorf("run 1: %v", err)
		}
		done <- st
	}()
	<-first.started

	second := &sleepRefresher{record: true}
	st2, err := refresh.NewEngine(src, cur, second, refresh.Options{Log: quiet()}).Run(context.Background(), one)
	if err != nil || !st2.Skipped || st2.Probed != 0 || len(second.startedIDs()) != 0 {
		t.Fatalf("overlapping run = %+v, %v, %d probes; want skipped, nothing probed", st2, err, len(second.startedIDs()))
	}
	close(first.release)
	if st1 := <-done; st1.Skipped || st1.Probed != 30 || first.n.Load() != 30 || !st1.ReachedEnd {
		t.Fatalf("run 1 = %+v; want all 30 probed", st1)
	}
	third := &sleepRefresher{record: true}
	if st3, err := refresh.NewEngine(src, cur, third, refresh.Options{Log: quiet()}).Run(context.Background(), one); err != nil || st3.Skipped || st3.Probed != 30 {
		t.Fatalf("run after the first finished = %+v, %v; want the lease taken and all 30 probed", st3, err)
	}
}

func TestWriteEMFParses(t *testing.T) {
	var buf bytes.Buffer
	rep := refresh.Report{Stats: refresh.Stats{Seen: 10, Probed: 8, Reachable: 7, Unreachable: 1, SkippedForTime: 2, Duration: 1500 * time.Millisecond}}
	if err := refresh.WriteEMF(&buf, time.UnixMilli(1700000000000), rep); err != nil {
		t.Fatalf("WriteEMF: %v", err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("EMF output has %d lines, want 1", n)
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Fields map[string]any `json:"-"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("EMF line does not parse: %v", err)
	}
	var fields map[string]any
	_ = json.Unmarshal(buf.Bytes(), &fields)
	if doc.AWS.Timestamp != 1700000000000 || len(doc.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("_aws = %+v, want timestamp 1700000000000 and one directive", doc.AWS)
	}
	d := doc.AWS.CloudWatchMetrics[0]
	if d.Namespace != refresh.MetricNamespace || len(d.Dimensions) != 1 {
		t.Fatalf("directive = %+v, want namespace %s and one dimension set", d, refresh.MetricNamespace)
	}
	for _, dim := range d.Dimensions[0] {
		if _, ok := fields[dim].(string); !ok {
			t.Errorf("dimension %s = %v, want a string member", dim, fields[dim])
		}
	}
	want := map[string]float64{"CredentialsSeen": 10, "Probed": 8, "Reachable": 7, "Unreachable": 1, "SkippedForTime": 2, "Duration": 1500}
	for _, m := range d.Metrics {
		if m.Unit == "" {
			t.Errorf("metric %s has no unit", m.Name)
		}
		if _, ok := fields[m.Name].(float64); !ok {
			t.Errorf("metric %s: value %v, want a number member", m.Name, fields[m.Name])
		}
	}
	for name, v := range want {
		if fields[name] != v {
			t.Errorf("%s = %v, want %v", name, fields[name], v)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want refresh.Config
		ok   bool
	}{
		{"defaults", nil, refresh.Config{Concurrency: 64, PerProvider: 32, TotalSegments: 1, StopBefore: 30 * time.Second, SweepMaxDeletes: 25, KeyCacheSize: 200000, PageSize: 1000}, true},
		{"set", map[string]string{"REFRESH_CONCURRENCY": "16", "REFRESH_PER_PROVIDER": "4", "REFRESH_TOTAL_SEGMENTS": "8", "REFRESH_SWEEP_MAX_DELETES": "0"},
			refresh.Config{Concurrency: 16, PerProvider: 4, TotalSegments: 8, StopBefore: 30 * time.Second, SweepMaxDeletes: 0, KeyCacheSize: 200000, PageSize: 1000}, true},
		{"bad", map[string]string{"REFRESH_CONCURRENCY": "0"}, refresh.Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refresh.LoadConfig(func(k string) string { return tt.env[k] })
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("LoadConfig = %+v, %v; want %+v, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestEventSegment(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
	}{
		{"schedule input", `{"segment": 3}`, 3},
		{"scheduled event itself", `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-01-01T00:00:00Z","resources":["arn:aws:events:us-east-1:123456789012:rule/r"],"detail":{}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev refresh.Event
			if err := json.Unmarshal([]byte(tt.in), &ev); err != nil || ev.Segment != tt.want {
				t.Fatalf("segment = %d, err %v; want %d", ev.Segment, err, tt.want)
			}
		})
	}
}
