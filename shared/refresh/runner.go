package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is the refresh's own configuration, read from the environment
// (the shared part, tables, prefix, probe timeout, is app.Config).
type Config struct {
	Concurrency     int           // REFRESH_CONCURRENCY, default 64
	PerProvider     int           // REFRESH_PER_PROVIDER, default 32
	TotalSegments   int           // REFRESH_TOTAL_SEGMENTS, default 1
	StopBefore      time.Duration // REFRESH_STOP_BEFORE_SECONDS, default 30
	SweepMaxDeletes int           // REFRESH_SWEEP_MAX_DELETES, default 25; 0 turns the sweep off
	KeyCacheSize    int           // REFRESH_KEY_CACHE_SIZE, default 200000 keys kept between runs (every segment's: any instance may run any segment)
	PageSize        int32         // items per scan page (at most 1 MB either way)
}

// LoadConfig reads Config through getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	num := func(name string, def, lo, hi int) int {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, v, lo, hi))
			return def
		}
		return n
	}
	c := Config{
		Concurrency:     num("REFRESH_CONCURRENCY", 64, 1, 1024),
		PerProvider:     num("REFRESH_PER_PROVIDER", 32, 1, 1024),
		TotalSegments:   num("REFRESH_TOTAL_SEGMENTS", 1, 1, 1000),
		StopBefore:      time.Duration(num("REFRESH_STOP_BEFORE_SECONDS", 30, 5, 600)) * time.Second,
		SweepMaxDeletes: num("REFRESH_SWEEP_MAX_DELETES", 25, 0, 1000),
		KeyCacheSize:    num("REFRESH_KEY_CACHE_SIZE", 200000, 1, 2000000),
		PageSize:        1000,
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("refresh: configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// Runner is one refresh function instance: built once at cold start, run
// once per scheduled event.
type Runner struct {
	cfg    Config
	engine *Engine
	sweep  func(context.Context) (SweepStats, error) // nil: no sweep
	log    *slog.Logger
	out    io.Writer // where the EMF line goes
	now    func() time.Time
}

// Deps are what a Runner runs on: the scan of the credentials table, the
// segments' cursors, the usage service that probes and caches, and, when
// the sweep is on, the sweep's view of both stores.
type Deps struct {
	Source    Source
	Cursors   Cursors
	Refresher Refresher
	Sweep     *SweepDeps // nil: no sweep
	Log       *slog.Logger
	Metrics   io.Writer // the embedded-metric-format line (os.Stdout in Lambda)
}

// SweepDeps are the stores the orphan sweep reads and changes.
type SweepDeps struct {
	Secrets SecretLister
	Claims  ClaimChecker
	Deleter SecretDeleter
}

// NewRunner builds a Runner. probeTimeout bounds one probe; the engine
// gives each credential that plus time for its key read and cache write.
func NewRunner(cfg Config, probeTimeout time.Duration, d Deps) (*Runner, error) {
	itemTimeout := probeTimeout + 5*time.Second
	if cfg.StopBefore < itemTimeout+5*time.Second {
		return nil, fmt.Errorf("refresh: REFRESH_STOP_BEFORE_SECONDS=%d must leave a probe (PROBE_TIMEOUT_SECONDS=%d) and its writes time to finish: at least %d",
			int(cfg.StopBefore/time.Second), int(probeTimeout/time.Second), int((itemTimeout+5*time.Second)/time.Second))
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	r := &Runner{
		cfg: cfg, log: log, out: d.Metrics, now: time.Now,
		engine: NewEngine(d.Source, d.Cursors, d.Refresher, Options{
			Concurrency: cfg.Concurrency, PerProvider: cfg.PerProvider,
			StopBefore: cfg.StopBefore, ItemTimeout: itemTimeout, Log: log,
		}),
	}
	if cfg.SweepMaxDeletes > 0 && d.Sweep != nil {
		sd := *d.Sweep
		r.sweep = func(ctx context.Context) (SweepStats, error) {
			return Sweep(ctx, sd.Secrets, sd.Claims, sd.Deleter, SweepOptions{MaxDeletes: cfg.SweepMaxDeletes, Log: log})
		}
	}
	return r, nil
}

// Report is what one invocation did.
type Report struct {
	Stats
	Sweep    *SweepStats // segment 0 only
	SweepErr error
}

// Run refreshes one segment (of Config.TotalSegments) and, in segment 0,
// sweeps orphaned secrets alongside, both within ctx's deadline less
// StopBefore and both only while this run holds the segment's lease (a run
// that finds it held does neither: its summary says skipped). It logs one
// summary line and writes one EMF line. The error is the lease's or the
// scan's (the run could not read its segment); a failed sweep is logged
// and counted, not returned.
func (r *Runner) Run(ctx context.Context, segment int) (Report, error) {
	if segment < 0 || segment >= r.cfg.TotalSegments {
		return Report{}, fmt.Errorf("refresh: segment %d: want 0 to %d (REFRESH_TOTAL_SEGMENTS=%d)", segment, r.cfg.TotalSegments-1, r.cfg.TotalSegments)
	}
	var rep Report
	// The sweep runs while the lease is held; the engine waits for it,
	// then probes again the credentials whose secret it restored.
	var sweep func(context.Context) []string
	if segment == 0 && r.sweep != nil {
		sweep = func(sctx context.Context) []string {
			st, err := r.sweep(sctx)
			rep.Sweep, rep.SweepErr = &st, err
			return st.RestoredNames
		}
	}
	st, err := r.engine.run(ctx, Segment{Index: segment, Total: r.cfg.TotalSegments}, sweep)
	rep.Stats = st
	r.summarize(ctx, rep, err)
	return rep, err
}

func (r *Runner) summarize(ctx context.Context, rep Report, runErr error) {
	attrs := []any{
		"segment", rep.Segment.Index, "total_segments", rep.Segment.Total,
		"seen", rep.Seen, "ineligible", rep.Ineligible, "invalid", rep.Invalid,
		"probed", rep.Probed, "reachable", rep.Reachable, "unreachable", rep.Unreachable,
		"cache_failed", rep.CacheFailed, "skipped_for_time", rep.SkippedForTime,
		"stopped_for_time", rep.StoppedForTime, "reached_end", rep.ReachedEnd, "skipped", rep.Skipped, "reprobed", rep.Reprobed,
		"duration_ms", rep.Duration.Milliseconds(),
	}
	if rep.Sweep != nil {
		attrs = append(attrs, "secrets_listed", rep.Sweep.Listed, "secrets_orphaned", rep.Sweep.Orphans, "secrets_spared", rep.Sweep.Spared,
			"secrets_deleted", rep.Sweep.Deleted, "secrets_delete_failed", rep.Sweep.Failed,
			"secrets_pending_deletion", rep.Sweep.Pending, "secrets_restored", rep.Sweep.Restored,
			"secrets_restore_held", rep.Sweep.RestoreHeld, "secrets_restore_failed", rep.Sweep.RestoreFailed)
	}
	level := slog.LevelInfo
	if runErr != nil {
		attrs, level = append(attrs, "err", runErr), slog.LevelError
	}
	if rep.SweepErr != nil {
		attrs, level = append(attrs, "sweep_err", rep.SweepErr), slog.LevelError
	}
	r.log.Log(ctx, level, "refresh summary", attrs...)
	if r.out != nil {
		if err := WriteEMF(r.out, r.now(), rep); err != nil {
			r.log.WarnContext(ctx, "refresh: metrics not written", "err", err)
		}
	}
}

// Metric namespace and dimension of the EMF figures.
const (
	MetricNamespace = "ProviderCredentials"
	metricFunction  = "refresh-usage"
)

// WriteEMF writes one CloudWatch embedded-metric-format line: CloudWatch
// Logs turns its figures into metrics, no PutMetricData call needed.
func WriteEMF(w io.Writer, at time.Time, rep Report) error {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	figures := []struct {
		name, unit string
		value      any
	}{
		{"CredentialsSeen", "Count", rep.Seen},
		{"Probed", "Count", rep.Probed},
		{"Reachable", "Count", rep.Reachable},
		{"Unreachable", "Count", rep.Unreachable},
		{"CacheWriteFailed", "Count", rep.CacheFailed},
		{"SkippedForTime", "Count", rep.SkippedForTime},
		{"RunsSkipped", "Count", b2i(rep.Skipped)},
		{"Duration", "Milliseconds", rep.Duration.Milliseconds()},
	}
	if rep.Sweep != nil {
		figures = append(figures, []struct {
			name, unit string
			value      any
		}{
			{"OrphanedSecretsDeleted", "Count", rep.Sweep.Deleted},
			{"RestoredSecrets", "Count", rep.Sweep.Restored},
		}...)
	}
	doc := map[string]any{"Function": metricFunction, "Segment": strconv.Itoa(rep.Segment.Index)}
	var metrics []metric
	for _, f := range figures {
		metrics = append(metrics, metric{Name: f.name, Unit: f.unit})
		doc[f.name] = f.value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricNamespace,
			"Dimensions": [][]string{{"Function"}},
			"Metrics":    metrics,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
