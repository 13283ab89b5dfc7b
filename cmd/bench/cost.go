package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/acme/provider-credentials/shared/dev/bench"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

// Targets of issue 15.
const (
	scaleCredentials  = 100_000
	credentialMonth   = 0.45 // $ all-in, the $0.40 secret included
	probingSeconds    = 270  // 300 s timeout − 30 s stop-before
	awsCallMs         = 5.0  // assumed in-region latency of one AWS call, for request durations
	changesPerMonth   = 1.0  // assumed credential changes (events) per credential-month
	defaultConcurrent = 64
)

// scaleRun is one segment count's figures from BenchmarkRefreshScale.
type scaleRun struct {
	segs            int
	secondsPerProbe float64 // all segments' wall time / probes
	reach           float64
	covered         bool
}

var scaleName = regexp.MustCompile(`^RefreshScale/n=(\d+)/segments=(\d+)$`)

// refreshScale runs the refresh at 100,000 credentials in 1, 2, 4 and 8
// segments (time scaled; see shared/refresh/scale_bench_test.go).
func (r *runner) refreshScale() {
	out, _ := r.goTest("refresh at scale", "./shared/refresh/", "-bench", "^BenchmarkRefreshScale$", "-benchtime", "1x", "-timeout", "20m")
	for _, res := range parse(out) {
		m := res.metrics
		if strings.HasPrefix(res.name, "RefreshScale/verify/") {
			r.add(figure{group: "scale", name: "scale/verify/scaled-over-real", value: m["scaled/real"], unit: "ratio", prec: 3,
				note: fmt.Sprintf("2,000 credentials, 1 segment, run in real time (%.1f s, %.2f of the ideal) and scaled ×%.0f (%.1f s scaled back, %.2f of the ideal): 1 = the scaling does not distort; above 1, the scaled figures are pessimistic (the machine's scheduling delays are multiplied too)",
					m["real-wall-s"], m["real-ideal-ratio"], m["factor"], m["scaled-wall-s"], m["scaled-ideal-ratio"])})
			continue
		}
		sm := scaleName.FindStringSubmatch(res.name)
		if sm == nil {
			continue
		}
		segs, _ := strconv.Atoi(sm[2])
		pre := fmt.Sprintf("scale/segments=%d/", segs)
		run := scaleRun{segs: segs, reach: m["period-reach"], covered: m["covered"] == 1}
		if m["probed"] > 0 {
			run.secondsPerProbe = m["wall-s"] * float64(segs) / m["probed"]
		}
		r.scale = append(r.scale, run)
		r.add(figure{group: "scale", name: pre + "per-segment", value: m["per-segment"], unit: "credentials",
			note: fmt.Sprintf("%s credentials over %d segments, one invocation each", sm[1], segs)})
		r.add(figure{group: "scale", name: pre + "wall", value: m["wall-s"], unit: "s", prec: 1,
			note: fmt.Sprintf("a segment's run, mean (slowest %.1f s), scaled back; ideal %.1f s = its probes × %.0f ms mean latency / 64; a run stops taking work at 270 s", m["max-wall-s"], m["ideal-s"], m["mean-latency-ms"])})
		r.add(figure{group: "scale", name: pre + "ideal-ratio", value: m["ideal-ratio"], unit: "ratio", prec: 2,
			note: "ideal / wall time over every segment's run (1 = the 64 slots always busy)"})
		r.add(figure{group: "scale", name: pre + "peak-heap", value: m["peak-heap-B"] / (1 << 20), unit: "MiB", prec: 2,
			note: "highest live heap sampled while the segments ran, above the start"})
		ok := m["min-probes"] == 1 && m["max-probes"] == 1
		r.add(figure{group: "scale", name: pre + "probes-per-credential", value: m["max-probes"], unit: "probes", check: "= 1", pass: ok,
			note: fmt.Sprintf("fewest %.0f, most %.0f, over every credential a run reached (all of its segment, or up to its saved cursor); %.0f probed in all; the benchmark fails otherwise", m["min-probes"], m["max-probes"], m["probed"])})
		if !ok {
			r.failed = append(r.failed, fmt.Sprintf("%sprobes-per-credential: %v–%v, want exactly 1", pre, m["min-probes"], m["max-probes"]))
		}
		r.add(figure{group: "scale", name: pre + "covers-100000", value: m["covered"], unit: "bool", check: "yes", pass: m["covered"] == 1,
			note: "every segment reached its end within one 5-minute period (270 s of probing) at 64 overall, 32 per provider"})
		r.add(figure{group: "scale", name: pre + "period-reach", value: m["period-reach"], unit: "credentials",
			note: "the largest count one period covers: segments × a segment's measured probes per second × 270 s (200–500 ms probes)"})
	}
	if len(r.scale) == 0 {
		r.add(figure{group: "scale", name: "scale", value: -1, unit: "n/a", note: "BenchmarkRefreshScale reported nothing"})
	}
}

var cacheName = regexp.MustCompile(`^KeyCacheReads/creds=(\d+)/segments=(\d+)/cache=(\d+)$`)

// keyCache runs the key cache's simulated day (shared/secrets).
func (r *runner) keyCache() {
	out, _ := r.goTest("key cache reads", "./shared/secrets/", "-bench", "^BenchmarkKeyCacheReads$", "-benchtime", "1x")
	r.keyReads = map[string]float64{}
	for _, res := range parse(out) {
		if res.name == "KeyCacheReads/memory" {
			r.keyBytes = res.metrics["B/key"]
			r.add(figure{group: "keycache", name: "keycache/memory", value: res.metrics["B/key"], unit: "B/key",
				note: "live heap of one cached key (name, version, key, map entry): 100,000 keys ≈ " + fmt.Sprintf("%.0f MiB", res.metrics["B/key"]*1e5/(1<<20))})
			continue
		}
		m := cacheName.FindStringSubmatch(res.name)
		if m == nil {
			continue
		}
		creds, _ := strconv.Atoi(m[1])
		cache, _ := strconv.Atoi(m[3])
		key := m[2] + "/" + map[bool]string{true: "fits", false: "small"}[cache >= creds]
		r.keyReads[key] = res.metrics["reads/credential/day"]
		note := fmt.Sprintf("%s credentials over %s segments (as many warm instances, a segment landing on a random one each run), %s keys kept an instance", m[1], m[2], m[3])
		if cache < creds {
			note += fmt.Sprintf(": stands for %d credentials against the old default 10,000 (same ratio)", creds*10000/cache)
		}
		r.add(figure{group: "keycache", name: "keycache/" + strings.TrimPrefix(res.name, "KeyCacheReads/") + "/reads", value: res.metrics["reads/credential/day"], unit: "reads/credential/day", prec: 1, note: note})
	}
}

// costInputs runs the measurements the cost table is computed from.
func (r *runner) costInputs() {
	out, _ := r.goTest("cost inputs", "./shared/dev/bench/", "-bench", "^BenchmarkCostInputs$", "-benchtime", "1x", "-v")
	in := &r.cost
	notes := map[string]string{
		"item/credential":                  "a keyed credential item as stored (DynamoDB's size: names + values)",
		"item/guard":                       "its uniqueness guard item",
		"item/usage":                       "the usage cache item a scheduled refresh writes (result JSON, fingerprint, TTL)",
		"item/cursor":                      "a segment's cursor and lease item",
		"refresh/putitem-per-probe":        "usage cache writes per probe (the run's cursor save left out)",
		"refresh/getsecret-cold-per-probe": "GetSecretValue per probe, key cache empty (first run of an instance)",
		"refresh/getsecret-warm-per-probe": "GetSecretValue per probe, the next run (keys cached 6 h)",
		"refresh/scan-per-run":             "Scan pages of a run over 20 credentials (a page: 1,000 items or 1 MB)",
		"refresh/cursor-per-run":           "UpdateItem taking the lease with the cursor read, PutItem saving it",
		"refresh/sweep-per-run":            "the sweep's calls for 20 secrets (ListSecrets: 100 a page; secrets under an hour old are not claim-checked)",
		"refresh/log-per-run":              "our log bytes of a run: the JSON summary line and the EMF line",
		"request/log-per-request":          "our log bytes of a successful request (get, usage read): the handlers log only failures",
	}
	for _, res := range parse(out) {
		name := strings.TrimPrefix(res.name, "CostInputs/")
		if name == res.name {
			continue
		}
		var v float64
		var unit string
		for u, x := range res.metrics {
			if u != "ns/op" {
				unit, v = u, x
			}
		}
		switch name {
		case "item/credential":
			in.CredentialItem = int(v)
		case "item/guard":
			in.GuardItem = int(v)
		case "item/usage":
			in.UsageItem = int(v)
		case "item/cursor":
			in.CursorItem = int(v)
		case "refresh/putitem-per-probe":
			in.PutItemPerProbe = v
		case "refresh/getsecret-cold-per-probe":
			in.GetSecretColdPerProbe = v
		case "refresh/getsecret-warm-per-probe":
			in.GetSecretWarmPerProbe = v
		case "refresh/scan-per-run":
			in.ScanPerRun = v
		case "refresh/cursor-per-run":
			in.CursorPerRun = v
		case "refresh/sweep-per-run":
			in.SweepPerRun = v
		case "refresh/log-per-run":
			in.LogBytesPerRun = v
		case "request/log-per-request":
			in.LogBytesPerRequest = v
		}
		r.haveCost = true
		r.add(figure{group: "costin", name: "cost-input/" + name, value: v, unit: unit, prec: 2, note: notes[name]})
	}
}

// templateFacts are the template's defaults the cost depends on.
type templateFacts struct {
	segments          int
	runsPerMonth      float64
	apiMB, refreshMB  float64
	schedule          string
	concurrency, perP string
}

var rateExpr = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)

func (r *runner) template() (templateFacts, error) {
	tpl, err := samtemplate.Load(filepath.Join(r.root, "template.yaml"))
	if err != nil {
		return templateFacts{}, err
	}
	f := templateFacts{schedule: tpl.Parameters["RefreshSchedule"].Default,
		concurrency: tpl.Parameters["RefreshConcurrency"].Default, perP: tpl.Parameters["RefreshPerProvider"].Default}
	f.segments, _ = strconv.Atoi(tpl.Parameters["RefreshSegments"].Default)
	m := rateExpr.FindStringSubmatch(f.schedule)
	if m == nil {
		return f, fmt.Errorf("RefreshSchedule default %q: not a rate()", f.schedule)
	}
	every, _ := strconv.ParseFloat(m[1], 64)
	perMinute := map[string]float64{"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}[m[2]]
	f.runsPerMonth = 30 * 24 * 60 / (every * perMinute)
	f.apiMB, _ = strconv.ParseFloat(fmt.Sprint(tpl.Globals.Function["MemorySize"]), 64)
	f.refreshMB, _ = strconv.ParseFloat(fmt.Sprint(tpl.Resources["RefreshUsageFunction"].Properties["MemorySize"]), 64)
	if f.apiMB == 0 || f.refreshMB == 0 || f.segments == 0 {
		return f, fmt.Errorf("template: MemorySize %v/%v or RefreshSegments %d not found", f.apiMB, f.refreshMB, f.segments)
	}
	return f, nil
}

// costs computes the cost table from the figures measured above.
func (r *runner) costs() {
	if !r.haveCost || len(r.scale) == 0 || len(r.keyReads) == 0 {
		r.add(figure{group: "cost", name: "cost", value: -1, unit: "n/a", note: "a measurement the cost needs is missing (see above)"})
		return
	}
	t, err := r.template()
	if err != nil {
		r.failed = append(r.failed, "cost: "+err.Error())
		return
	}
	r.facts = t
	i := slices.IndexFunc(r.scale, func(s scaleRun) bool { return s.segs == t.segments })
	if i < 0 {
		r.failed = append(r.failed, fmt.Sprintf("cost: no scale figure for the template's %d segments", t.segments))
		return
	}
	perProbe := r.scale[i].secondsPerProbe
	reads := func(fits bool) float64 {
		v, ok := r.keyReads[fmt.Sprintf("%d/%s", t.segments, map[bool]string{true: "fits", false: "small"}[fits])]
		if !ok {
			r.failed = append(r.failed, fmt.Sprintf("cost: no key cache figure for the template's %d segments", t.segments))
		}
		return v
	}
	sched := bench.Schedule{
		RunsPerMonth: t.runsPerMonth, Segments: t.segments, MemoryGB: t.refreshMB / 1024, Credentials: scaleCredentials,
		KeyReadsPerDay: reads(true), SecondsPerProbe: perProbe, ChangesPerMonth: changesPerMonth, PlatformLogBytes: bench.PlatformLogBytes,
	}
	lines := bench.CredentialMonth(r.cost, sched)
	r.costLines = lines
	for _, l := range lines {
		r.add(figure{group: "cost", name: "credential-month/" + l.What, value: l.Dollars, unit: "$", prec: 6,
			note: fmt.Sprintf("%s %s: %s%s", trimNum(l.Quantity), l.Unit, l.How, estimate(l.Estimate))})
	}
	total := bench.Total(lines)
	r.add(figure{group: "cost", name: fmt.Sprintf("credential-month/total/n=%d", scaleCredentials), value: total, unit: "$", prec: 4,
		check: fmt.Sprintf("≤ %.2f $", credentialMonth), pass: total <= credentialMonth,
		note: fmt.Sprintf("all of the above, at the template's defaults (%s, %d segments, %s/%s probes in flight, %.0f MB), the key cache holding every key", t.schedule, t.segments, t.concurrency, t.perP, t.refreshMB)})
	for _, n := range []int{1_000, 10_000} {
		s := sched
		s.Credentials = n
		v := bench.Total(bench.CredentialMonth(r.cost, s))
		r.add(figure{group: "cost", name: fmt.Sprintf("credential-month/total/n=%d", n), value: v, unit: "$", prec: 4,
			check: fmt.Sprintf("≤ %.2f $", credentialMonth), pass: v <= credentialMonth,
			note: "the same, the per-run and per-month costs spread over fewer credentials"})
	}
	small := sched
	small.KeyReadsPerDay = reads(false)
	v := bench.Total(bench.CredentialMonth(r.cost, small))
	r.add(figure{group: "cost", name: fmt.Sprintf("credential-month/total/n=%d/key-cache-too-small", scaleCredentials), value: v, unit: "$", prec: 4,
		check: fmt.Sprintf("≤ %.2f $", credentialMonth), pass: v <= credentialMonth,
		note: fmt.Sprintf("as n=%d, but with an instance's key cache smaller than the credentials it serves (REFRESH_KEY_CACHE_SIZE at the old 10,000): %.0f key reads a credential a day", scaleCredentials, small.KeyReadsPerDay)})

	// A million requests of each route.
	for _, p := range bench.Plans {
		ops := r.ops[p.Name]
		ns := r.num("handler/" + p.Name + "/time")
		var list []string
		if ops != "" {
			list = strings.Split(ops, ",")
		}
		lines := bench.RequestMillion(p.Name, list, ns, awsCallMs, t.apiMB/1024, r.cost, r.cost.LogBytesPerRequest, bench.PlatformLogBytes)
		var parts []string
		for _, l := range lines {
			if l.Dollars >= 0.005 {
				parts = append(parts, fmt.Sprintf("%s $%.2f", l.What, l.Dollars))
			}
		}
		r.add(figure{group: "cost", name: "million-requests/" + p.Name, value: bench.Total(lines), unit: "$", prec: 2,
			note: strings.Join(parts, ", ") + fmt.Sprintf(" (%d AWS calls: %s; duration %s)", len(list), ops, lines[2].How)})
	}
}

func estimate(e bool) string {
	if e {
		return " (estimate)"
	}
	return ""
}

func trimNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

const scaleIntro = "shared/refresh's `BenchmarkRefreshScale`: the real `refresh.Engine` (its pool, its overall and per-provider limits, its deadline handling, its cursor) over 100,000 credentials held in memory (the Source, Cursors and Refresher ports faked in the benchmark; no emulator), over 8 providers spread across every segment, at the defaults (64 probes in flight, 32 per provider). The fake provider answers each credential after 200–500 ms (a hash of the credential: jitter, mean 350 ms) and answers 1 % of them unreachable. Each segment is one invocation with the deployed timing: a 300 s deadline, `StopBefore` 30 s (270 s of probing), `ItemTimeout` 15 s; segments run one after another, each with the machine to itself, as each is its own Lambda instance. Sleeping 350 ms × 100,000 / 64 (9 minutes) per configuration does not fit `make bench`, so time is scaled: the provider's latency, the deadline, `StopBefore` and `ItemTimeout` are all divided by 10 (`REFRESH_SCALE_FACTOR`) and the wall times multiplied back; the engine's clock (`Options.Now`) only dates the lease and the summary, so it stays real. `scale/verify` runs 2,000 credentials both ways: the scaled run comes out a little slower than the real-time one (the machine's scheduling delays are multiplied by 10 too), so the scaled reach is a lower bound. These 2-core machines are shared with other builds while this runs: expect a few % of noise."

const keyCacheIntro = "shared/secrets' `BenchmarkKeyCacheReads`: the real `KeyCache` (6 h, as the refresh function builds it) in front of a Secrets Manager fake that counts `GetSecretValue`, over simulated runs every 5 minutes for 30 h, of which the last 24 are counted (the first 6 fill the caches). With S segments, each tick's S invocations land on S warm instances, each segment on a random one (Lambda keeps no segment on an instance), so every instance reads every key once per 6 h: 4 × S reads a credential a day while an instance's cache holds every credential. When it holds fewer (`REFRESH_KEY_CACHE_SIZE`), it thrashes and nearly every probe reads its key (288 a day). Instance recycling is not modelled: a new instance reads its keys once more."

const costInputsIntro = "shared/dev/bench's `BenchmarkCostInputs`, on fresh tables of template.yaml in moto, through the functions' real code: the real items' sizes as the SDK marshalled them (DynamoDB's billing size: attribute names + values), the AWS calls of two scheduled refreshes over 20 keyed credentials probing the fake provider (the first with an empty key cache, the second warm), counted by the SDK middleware, and the bytes our code logs."

func (r *runner) costIntro() string {
	p := bench.Prices
	t := r.facts
	var b strings.Builder
	fmt.Fprintf(&b, "Computed by cmd/bench from the figures above and the price list in `shared/dev/bench/prices.go` (%s; %s): Lambda arm64 $%.10f per GB-s and $%.2f per million requests, DynamoDB on demand $%.3f per million WRU and $%.3f per million RRU, Secrets Manager $%.2f per secret-month and $%.2f per 10,000 calls, API Gateway HTTP API $%.2f per million requests, CloudWatch Logs $%.2f per GB ingested, $%.2f per custom metric-month, EventBridge $%.2f per million custom events; scheduled rules and DynamoDB Streams reads by Lambda are free.",
		p.AsOf, p.Source, p.LambdaGBSecondARM, p.LambdaRequest*1e6, p.DynamoWRU*1e6, p.DynamoRRU*1e6, p.SecretMonth, p.SecretsAPICall*1e4, p.HTTPAPIRequest*1e6, p.LogsIngestGB, p.CustomMetricMonth, p.EventBridgeCustom*1e6)
	fmt.Fprintf(&b, " A credential-month is the template's defaults (%s: %.0f runs a month, %d segments, %.0f MB for the refresh, %.0f MB for the API functions) over %d credentials; the lines marked estimate are assumptions (Lambda's own log lines; %.0f credential change a month, each one event; each AWS call of a request %.0f ms in-region), not measurements.",
		t.schedule, t.runsPerMonth, t.segments, t.refreshMB, t.apiMB, scaleCredentials, changesPerMonth, awsCallMs)
	if len(r.costLines) > 0 {
		total := bench.Total(r.costLines)
		verdict := "meets"
		if total > credentialMonth {
			verdict = "does not meet"
		}
		fmt.Fprintf(&b, " Result: **$%.4f per credential-month**, of which $%.2f is the secret: the default schedule %s the $%.2f target.", total, bench.Prices.SecretMonth, verdict, credentialMonth)
		fmt.Fprintf(&b, " The one setting that decides it is the key cache: an instance must hold every key it may be asked for (every segment's: `REFRESH_KEY_CACHE_SIZE` ≥ the credentials, %.0f bytes a key), else every probe reads its key and Secrets Manager calls add about $%.3f a credential-month (the `key-cache-too-small` line).",
			r.keyBytes, 288*30*bench.Prices.SecretsAPICall)
	}
	b.WriteString(" A million requests is one route's: API Gateway and Lambda's per-request price ($1.20) dominate every route; DynamoDB and Secrets Manager add cents.")
	return b.String()
}

// scaleWhy explains the segment counts that do not cover 100,000 credentials.
func (r *runner) scaleWhy() string {
	var parts []string
	for _, s := range r.scale {
		parts = append(parts, fmt.Sprintf("%d segment(s) reach about %.0f", s.segs, s.reach))
	}
	ideal := float64(defaultConcurrent) / 0.350 * probingSeconds
	return fmt.Sprintf("Refresh at 100,000 credentials: one invocation probes at most 64 at a time, so at a 350 ms mean probe it reaches at most 64 / 0.35 s × 270 s ≈ %.0f credentials a period, whatever the code; measured: %s. 100,000 need 3 segments or more: the template's `RefreshSegments` default is %d. The reach is proportional to 1 / probe latency: at a 0.7 s mean, halve it.",
		ideal, strings.Join(parts, ", "), r.facts.segments)
}
