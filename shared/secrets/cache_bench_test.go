package secrets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// countingAPI answers GetSecretValue in memory and counts the calls.
type countingAPI struct {
	API
	gets atomic.Int64
}

func (c *countingAPI) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.gets.Add(1)
	v := `{"api_key":"sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"}`
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

// BenchmarkKeyCacheReads measures the Secrets Manager reads the scheduled
// refresh makes per credential per day: the real KeyCache (6 h, as package
// scheduled builds it) in front of a counting Secrets Manager, over
// simulated runs every 5 minutes for 30 hours, of which the last 24 are
// counted (the first 6 fill the caches: a month is steady state). With
// more than one segment, each tick's invocations land on that many warm
// instances, each segment on a random one (Lambda does not keep a segment
// on an instance), so every instance's cache sees every segment; instance
// recycling is not modelled (each new instance reads its keys once more).
// The cases with 10,000 credentials and a 1,000-key cache stand for
// 100,000 credentials against the default 10,000 (the same ratio: the
// cache's eviction depends only on it), to keep the run short.
//
//	go test -run '^$' -bench KeyCacheReads -benchtime 1x ./shared/secrets/
func BenchmarkKeyCacheReads(b *testing.B) {
	for _, bc := range []struct {
		name           string
		creds, segs, m int
	}{
		{"creds=10000/segments=1/cache=10000", 10000, 1, 10000},
		{"creds=10000/segments=4/cache=10000", 10000, 4, 10000},
		{"creds=10000/segments=4/cache=1000", 10000, 4, 1000}, // = 100,000 against the default 10,000
		{"creds=10000/segments=1/cache=1000", 10000, 1, 1000}, // = 100,000 in one segment, default cache
	} {
		b.Run(bc.name, func(b *testing.B) {
			var perDay float64
			for b.Loop() {
				perDay = simulateReads(b, bc.creds, bc.segs, bc.m)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(perDay, "reads/credential/day")
		})
	}
	b.Run("memory", func(b *testing.B) {
		const n = 10000
		var perKey float64
		for b.Loop() {
			perKey = cacheBytesPerKey(b, n)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(perKey, "B/key")
	})
}

func simulateReads(b *testing.B, creds, segs, max int) float64 {
	b.Helper()
	ctx := context.Background()
	api := &countingAPI{}
	store, err := New(api, "provider-credentials", 7)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	instances := make([]*KeyCache, segs)
	for i := range instances {
		instances[i] = NewKeyCache(store, 6*time.Hour, max)
		instances[i].now = func() time.Time { return now }
	}
	names := make([]string, creds)
	for i := range names {
		names[i] = store.Name(fmt.Sprintf("org-%04d", i%500), fmt.Sprintf("cred-%06d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const tick, warm, total = 5 * time.Minute, 6 * time.Hour, 30 * time.Hour
	var counted int64
	for t := time.Duration(0); t < total; t += tick {
		now = t0.Add(t)
		if t == warm {
			counted = api.gets.Load()
		}
		order := rng.Perm(segs) // segment → instance
		for s := range segs {
			c := instances[order[s]]
			for i := s; i < creds; i += segs {
				if _, err := c.Key(ctx, names[i], "v1"); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return float64(api.gets.Load()-counted) / float64(creds) / ((total - warm).Hours() / 24)
}

// cacheBytesPerKey is the live heap a cached key takes: secret name,
// version id and key as the refresh holds them.
func cacheBytesPerKey(b *testing.B, n int) float64 {
	b.Helper()
	api := &countingAPI{}
	store, err := New(api, "provider-credentials", 7)
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := NewKeyCache(store, 6*time.Hour, n)
	for i := range n {
		name := store.Name(fmt.Sprintf("org_%026d", i), fmt.Sprintf("%026d", i)) // ULID-sized ids
		version := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)                // a UUID, as Secrets Manager's
		if _, err := c.Key(context.Background(), name, version); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
