package refresh_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/refresh"
)

// BenchmarkRefresh measures the engine against the ideal of n × 50 ms /
// concurrency: n credentials, in memory, over 8 providers, each refreshed
// by a fake that answers in 50 ms. Run it with
//
//	go test -run '^$' -bench Refresh -benchtime 1x ./shared/refresh/
//
// ideal-ratio is ideal / wall time (1 = perfect); peak-heap-B is the
// highest live heap seen while it ran, which should not grow with n.
func BenchmarkRefresh(b *testing.B) {
	for _, bc := range []struct {
		name        string
		n, conc, pp int
	}{
		{"n=1000/c=64", 1000, 64, 16},
		{"n=10000/c=64", 10000, 64, 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const probe = 50 * time.Millisecond
			src := genSource{n: bc.n, pageSize: 1000, providers: 8}
			ideal := time.Duration(bc.n) * probe / time.Duration(bc.conc)
			var ratio float64
			var peak atomic.Uint64
			// A low GC target keeps the sampled heap close to the live heap.
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > peak.Load() {
						peak.Store(ms.HeapAlloc)
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			})
			b.ResetTimer()
			for b.Loop() {
				e := refresh.NewEngine(src, &memCursors{}, &sleepRefresher{def: probe},
					refresh.Options{Concurrency: bc.conc, PerProvider: bc.pp, Log: quiet()})
				start := time.Now()
				st, err := e.Run(context.Background(), one)
				wall := time.Since(start)
				if err != nil || st.Probed != bc.n {
					b.Fatalf("Run: probed %d, err %v; want %d", st.Probed, err, bc.n)
				}
				ratio = ideal.Seconds() / wall.Seconds()
				b.Logf("%s: wall %v, ideal %v (%d × %v / %d): ratio %.3f", bc.name, wall.Round(time.Millisecond), ideal, bc.n, probe, bc.conc, ratio)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(ratio, "ideal-ratio")
			b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapAlloc)), "peak-heap-B")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(bc.n)/float64(b.N), "B/credential")
			b.Logf("%s: peak live heap %d KiB above the start", bc.name, (peak.Load()-min(peak.Load(), before.HeapAlloc))>>10)
		})
	}
}
