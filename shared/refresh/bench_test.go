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
			heap := sampleHeap()
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
			peak, allocated := heap.stop()
			b.ReportMetric(ratio, "ideal-ratio")
			b.ReportMetric(float64(peak), "peak-heap-B")
			b.ReportMetric(float64(allocated)/float64(bc.n)/float64(b.N), "B/credential")
			b.Logf("%s: peak live heap %d KiB above the start", bc.name, peak>>10)
		})
	}
}

// heapSampler samples the live heap while a benchmark runs: its peak
// above the start, and the bytes allocated in all.
type heapSampler struct {
	before  runtime.MemStats
	peak    atomic.Uint64
	done    chan struct{}
	wg      sync.WaitGroup
	restore int
}

// sampleHeap starts sampling every 20 ms, with a low GC target so that the
// sampled heap stays close to the live heap.
func sampleHeap() *heapSampler {
	h := &heapSampler{done: make(chan struct{}), restore: debug.SetGCPercent(10)}
	runtime.GC()
	runtime.ReadMemStats(&h.before)
	h.wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.peak.Load() {
				h.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-h.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return h
}

// stop ends the sampling: the peak live heap above the start, and the
// bytes allocated since.
func (h *heapSampler) stop() (peak, allocated uint64) {
	close(h.done)
	h.wg.Wait()
	debug.SetGCPercent(h.restore)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	p := h.peak.Load()
	return p - min(p, h.before.HeapAlloc), after.TotalAlloc - h.before.TotalAlloc
}
