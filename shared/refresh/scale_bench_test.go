package refresh_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/usage"
)

// The deployed function's figures: 300 s timeout, stop taking work 30 s
// before it, a probe bounded by PROBE_TIMEOUT_SECONDS (10) + 5 s.
const (
	lambdaTimeout = 300 * time.Second
	stopBefore    = 30 * time.Second
	itemTimeout   = 15 * time.Second
	// Probe latency of the fake provider: uniform in [latMin, latMin+latSpan).
	latMin  = 200 * time.Millisecond
	latSpan = 301 * time.Millisecond
)

// timeScale divides every duration of BenchmarkRefreshScale (the
// provider's latency, the invocation's deadline, StopBefore, ItemTimeout),
// so that 100,000 probes of 200–500 ms fit in seconds; the figures are
// multiplied back. REFRESH_SCALE_FACTOR overrides it (1: real time).
func timeScale() int {
	if v, err := strconv.Atoi(os.Getenv("REFRESH_SCALE_FACTOR")); err == nil && v >= 1 {
		return v
	}
	return 10
}

// BenchmarkRefreshScale runs the real engine (its pool, its limits, its
// deadline handling) over 100,000 credentials in memory, split into 1, 2,
// 4 and 8 scan segments, each segment one invocation with the deployed
// timeout, against a provider answering in 200–500 ms (by credential) with
// 1 % failures, at the default concurrency (64 overall, 32 per provider,
// credentials over 8 providers). Segments run one after another: each is
// its own Lambda instance in production, with the CPU to itself. Every
// duration is divided by timeScale and the figures are multiplied back;
// the verify case runs 2,000 credentials both in real time and scaled and
// reports scaled/real wall time, which shows the scaling does not distort.
//
// Run it with
//
//	go test -run '^$' -bench RefreshScale -benchtime 1x ./shared/refresh/
//
// It fails when any credential a run reached (before its saved cursor, or
// all of its segment when it reached the end) was probed other than
// exactly once, or any credential was probed twice.
func BenchmarkRefreshScale(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("REFRESH_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	k := timeScale()
	for _, segs := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("n=%d/segments=%d", n, segs), func(b *testing.B) {
			var r scaleRun
			for b.Loop() {
				r = runScale(b, n, segs, k)
			}
			r.report(b)
		})
	}
	b.Run("verify/n=2000/segments=1", func(b *testing.B) {
		var real, scaled scaleRun
		for b.Loop() {
			real = runScale(b, 2000, 1, 1)
			scaled = runScale(b, 2000, 1, k)
		}
		ratio := scaled.sumWall.Seconds() / real.sumWall.Seconds()
		b.Logf("verify: real-time wall %v, scaled ×%d wall (scaled back) %v: ratio %.3f", real.maxWall.Round(time.Millisecond), k, scaled.maxWall.Round(time.Millisecond), ratio)
		b.ReportMetric(real.maxWall.Seconds(), "real-wall-s")
		b.ReportMetric(scaled.maxWall.Seconds(), "scaled-wall-s")
		b.ReportMetric(ratio, "scaled/real")
		b.ReportMetric(real.ratio(), "real-ideal-ratio")
		b.ReportMetric(scaled.ratio(), "scaled-ideal-ratio")
		b.ReportMetric(float64(k), "factor")
	})
}

// scaleRun is the outcome of one run of every segment, in real-time
// equivalents (scaled back).
type scaleRun struct {
	n, segs, factor  int
	probed, reached  int
	maxWall          time.Duration // the slowest segment's run
	sumLatency       time.Duration // of the probes made, real-time equivalent
	maxSegProbed     int           // probes of the slowest segment
	maxSegLatency    time.Duration // their latencies' sum
	sumWall          time.Duration // of every segment's run
	covered          bool          // every segment reached its end within its deadline
	minSeen, maxSeen int32         // probes per reached credential
	peakHeap         uint64
}

// ratio is the ideal (the probes' latencies / 64) over the wall time,
// over every segment's run.
func (r scaleRun) ratio() float64 {
	return (r.sumLatency / 64).Seconds() / r.sumWall.Seconds()
}

// meanWall is a segment's run, on average.
func (r scaleRun) meanWall() time.Duration { return r.sumWall / time.Duration(r.segs) }

func (r scaleRun) report(b *testing.B) {
	perSeg := (r.n + r.segs - 1) / r.segs
	probing := (lambdaTimeout - stopBefore).Seconds()
	// One period reaches, in each segment, what a segment's run probes per
	// second (all segments' probes over all their wall time) in its
	// probing time (270 s).
	rate := float64(r.probed) / r.sumWall.Seconds()
	reach := int(rate*probing) * r.segs
	b.Logf("n=%d segments=%d (×%d): %d credentials a segment, a segment's run %v on average (ideal %v, ratio %.3f), slowest %v (%d probed, ideal %v); probed %d/%d; covered %v; probes per reached credential %d–%d; peak heap %d KiB; one period reaches about %d",
		r.n, r.segs, r.factor, perSeg, r.meanWall().Round(time.Millisecond), (r.sumLatency / 64 / time.Duration(r.segs)).Round(time.Millisecond), r.ratio(),
		r.maxWall.Round(time.Millisecond), r.maxSegProbed, (r.maxSegLatency / 64).Round(time.Millisecond),
		r.probed, r.n, r.covered, r.minSeen, r.maxSeen, r.peakHeap>>10, reach)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(perSeg), "per-segment")
	b.ReportMetric(r.meanWall().Seconds(), "wall-s")
	b.ReportMetric(r.maxWall.Seconds(), "max-wall-s")
	b.ReportMetric((r.sumLatency / 64 / time.Duration(r.segs)).Seconds(), "ideal-s")
	b.ReportMetric(r.ratio(), "ideal-ratio")
	b.ReportMetric(float64(r.sumLatency)/float64(max(r.probed, 1))/1e6, "mean-latency-ms")
	b.ReportMetric(float64(r.peakHeap), "peak-heap-B")
	b.ReportMetric(float64(r.probed), "probed")
	b.ReportMetric(float64(r.minSeen), "min-probes")
	b.ReportMetric(float64(r.maxSeen), "max-probes")
	b.ReportMetric(b2f(r.covered), "covered")
	b.ReportMetric(float64(reach), "period-reach")
	b.ReportMetric(float64(r.factor), "factor")
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// runScale runs each of segs segments once, as its own invocation, with
// durations divided by factor, and checks the probes per credential.
func runScale(b *testing.B, n, segs, factor int) scaleRun {
	b.Helper()
	div := func(d time.Duration) time.Duration { return d / time.Duration(factor) }
	src := segSource{n: n, total: segs, pageSize: 1000, providers: 8}
	ref := &latencyRefresher{counts: make([]atomic.Int32, n), div: time.Duration(factor)}
	cur := &scaleCursors{m: map[int]string{}}
	r := scaleRun{n: n, segs: segs, factor: factor, covered: true, minSeen: 1 << 30}

	heap := sampleHeap()

	for s := range segs {
		e := refresh.NewEngine(src, cur, ref, refresh.Options{
			Concurrency: 64, PerProvider: 32, StopBefore: div(stopBefore), ItemTimeout: div(itemTimeout), Log: quiet(),
		})
		ref.segProbed.Store(0)
		ref.segLatency.Store(0)
		ctx, cancel := context.WithTimeout(context.Background(), div(lambdaTimeout))
		start := time.Now()
		st, err := e.Run(ctx, refresh.Segment{Index: s, Total: segs})
		wall := time.Since(start) * time.Duration(factor)
		cancel()
		if err != nil {
			b.Fatalf("segment %d/%d: %v", s, segs, err)
		}
		if !st.ReachedEnd {
			r.covered = false
		}
		r.sumWall += wall
		if wall > r.maxWall {
			r.maxWall, r.maxSegProbed, r.maxSegLatency = wall, int(ref.segProbed.Load()), time.Duration(ref.segLatency.Load())
		}
		// Which credentials this run reached: all of its segment when it
		// reached the end, else those up to its saved cursor.
		limit := n
		if !st.ReachedEnd {
			limit = -1
			if pos := cur.m[s]; pos != "" {
				limit, _ = strconv.Atoi(pos)
			}
		}
		for i := s; i < n; i += segs {
			c := ref.counts[i].Load()
			if i <= limit {
				r.reached++
				r.minSeen, r.maxSeen = min(r.minSeen, c), max(r.maxSeen, c)
				if c != 1 {
					b.Fatalf("segment %d/%d: credential %d probed %d times, want once (reached end %v, cursor %q)", s, segs, i, c, st.ReachedEnd, cur.m[s])
				}
			} else if c > 1 {
				b.Fatalf("segment %d/%d: credential %d (past the cursor) probed %d times", s, segs, i, c)
			}
		}
		r.probed += st.Probed
	}
	r.peakHeap, _ = heap.stop()
	r.sumLatency = time.Duration(ref.latency.Load())
	if r.reached == 0 {
		r.minSeen = 0
	}
	return r
}

// segSource is an in-memory table of n credentials over total parallel
// scan segments, made page by page as they are read: credential i is in
// segment i % total, at position i, of provider (i / total) % providers
// (every segment holds every provider, as DynamoDB's hash spreads them).
type segSource struct{ n, total, pageSize, providers int }

func (g segSource) Page(_ context.Context, seg refresh.Segment, after string) (refresh.ScanPage, error) {
	i := seg.Index
	if after != "" {
		p, err := strconv.Atoi(after)
		if err != nil {
			return refresh.ScanPage{}, err
		}
		i = p + g.total
	}
	var page refresh.ScanPage
	for ; i < g.n && len(page.Items) < g.pageSize; i += g.total {
		c := credentials.Credential{
			ID: strconv.Itoa(i), OrgID: "org-" + strconv.Itoa(i%97),
			Provider: "provider-" + strconv.Itoa(i/g.total%g.providers), Active: true, HasAPIKey: true,
		}
		page.Items = append(page.Items, refresh.ScanItem{Pos: strconv.Itoa(i), Credential: &c})
	}
	if i < g.n {
		page.Next = page.Items[len(page.Items)-1].Pos
	}
	return page, nil
}

// scaleCursors keeps one cursor per segment, with a lease that is always
// free (segments run one at a time here).
type scaleCursors struct {
	mu sync.Mutex
	m  map[int]string
}

func (c *scaleCursors) AcquireCursor(_ context.Context, seg, _ int, _ string, _, _ time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[seg], nil
}

func (c *scaleCursors) SaveCursor(_ context.Context, seg, _ int, _, pos, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[seg] = pos
	return nil
}

// latencyRefresher answers credential i after 200–500 ms (a hash of i:
// the jitter), divided by div, unreachable for 1 % of them, and counts the
// probes of each credential.
type latencyRefresher struct {
	counts                []atomic.Int32
	div                   time.Duration
	latency               atomic.Int64 // sum of the probes' latencies, undivided
	segProbed, segLatency atomic.Int64 // the current segment's
}

func mix(x uint64) uint64 { // splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (l *latencyRefresher) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	i, err := strconv.Atoi(c.ID)
	if err != nil {
		return usage.Result{}, err
	}
	l.counts[i].Add(1)
	h := mix(uint64(i) + 0x9e3779b97f4a7c15)
	d := latMin + time.Duration(h%uint64(latSpan/time.Millisecond))*time.Millisecond
	l.latency.Add(int64(d))
	l.segProbed.Add(1)
	l.segLatency.Add(int64(d))
	t := time.NewTimer(d / l.div)
	defer t.Stop()
	res := usage.Result{Provider: c.Provider, AccountKey: c.AccountKey}
	select {
	case <-t.C:
		res.Reachable = (h>>32)%100 != 0 // 1 % fail
	case <-ctx.Done():
	}
	return res, nil
}
