package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/scheduled"
)

// costRefreshCreds is how many keyed credentials the measured refresh
// probes (through moto and the fake provider).
const costRefreshCreds = 20

var cost struct {
	once sync.Once
	err  error
	in   CostInputs
}

// BenchmarkCostInputs measures what the cost table is computed from, on a
// fresh set of the template's tables in moto: the DynamoDB size of the
// real items (a keyed credential, its uniqueness guard, the usage item
// the scheduled refresh writes) as the SDK marshalled them; the AWS calls
// of two scheduled refreshes over costRefreshCreds keyed credentials (the
// first with the key cache empty, the second warm), counted by the SDK
// middleware; and the log bytes our code writes per request and per run.
// Nothing is timed: run with -benchtime 1x.
func BenchmarkCostInputs(b *testing.B) {
	shared(b)
	cost.once.Do(func() { cost.in, cost.err = measureCostInputs(context.Background()) })
	if cost.err != nil {
		b.Fatal(cost.err)
	}
	in := cost.in
	for _, m := range []struct {
		name, unit string
		v          float64
	}{
		{"item/credential", "bytes", float64(in.CredentialItem)},
		{"item/guard", "bytes", float64(in.GuardItem)},
		{"item/usage", "bytes", float64(in.UsageItem)},
		{"item/cursor", "bytes", float64(in.CursorItem)},
		{"refresh/putitem-per-probe", "calls", in.PutItemPerProbe},
		{"refresh/getsecret-cold-per-probe", "calls", in.GetSecretColdPerProbe},
		{"refresh/getsecret-warm-per-probe", "calls", in.GetSecretWarmPerProbe},
		{"refresh/scan-per-run", "calls", in.ScanPerRun},
		{"refresh/cursor-per-run", "calls", in.CursorPerRun},
		{"refresh/sweep-per-run", "calls", in.SweepPerRun},
		{"refresh/log-per-run", "bytes", in.LogBytesPerRun},
		{"request/log-per-request", "bytes", in.LogBytesPerRequest},
	} {
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(m.v, m.unit)
		})
	}
	b.Logf("cost inputs: refresh ops, cold run: %s", in.ColdOps)
	b.Logf("cost inputs: refresh ops, warm run: %s", in.WarmOps)
}

func measureCostInputs(ctx context.Context) (CostInputs, error) {
	var in CostInputs
	w, err := NewWorld(ctx, st.endpoint, st.tpl)
	if err != nil {
		return in, err
	}
	var logs bytes.Buffer
	w.b.Log = slog.New(slog.NewJSONHandler(&logs, nil)) // as Lambda's JSON log format
	create, err := w.Invoker("create-credential")
	if err != nil {
		return in, err
	}
	getUsage, err := w.Invoker("get-usage")
	if err != nil {
		return in, err
	}
	get, err := w.Invoker("get-credential")
	if err != nil {
		return in, err
	}
	var ids []string
	for i := range costRefreshCreds {
		body, _ := json.Marshal(map[string]any{
			"provider": "openai", "account_key": fmt.Sprintf("team-%02d", i), "display_name": fmt.Sprintf("Team %02d production", i),
			"api_key": FakeProviderKey, "base_url": st.provider + "/v1",
		})
		resp, err := Do(ctx, create, Request{Method: "POST", Path: "/provider-credentials", Org: Org, Role: "admin", Body: string(body)}, 201)
		if err != nil {
			return in, err
		}
		var c struct{ ID string }
		if err := json.Unmarshal([]byte(resp.Body), &c); err != nil {
			return in, fmt.Errorf("bench: create: %w", err)
		}
		ids = append(ids, c.ID)
	}

	// Two scheduled runs: keys read in the first, cached in the second.
	cfg, err := refresh.LoadConfig(func(string) string { return "" })
	if err != nil {
		return in, err
	}
	var emf bytes.Buffer
	r, err := scheduled.Runner(w.b, cfg, &emf)
	if err != nil {
		return in, err
	}
	var runOps [2][]string
	var runLog float64
	for i := range runOps {
		logs.Reset()
		emf.Reset()
		w.Calls.Reset()
		rctx, cancel := context.WithTimeout(ctx, 120*time.Second)
		rep, err := r.Run(rctx, 0)
		cancel()
		if err != nil {
			return in, fmt.Errorf("bench: refresh: %w", err)
		}
		if rep.Probed != costRefreshCreds || rep.Reachable != costRefreshCreds {
			return in, fmt.Errorf("bench: refresh probed %d, %d reachable; want %d", rep.Probed, rep.Reachable, costRefreshCreds)
		}
		runOps[i] = w.Calls.Ops()
		runLog = float64(logs.Len() + emf.Len())
	}
	count := func(ops []string, names ...string) float64 {
		n := 0
		for _, o := range ops {
			if slices.Contains(names, o) {
				n++
			}
		}
		return float64(n)
	}
	cold, warm := runOps[0], runOps[1]
	in.ColdOps, in.WarmOps = summarizeOps(cold), summarizeOps(warm)
	// The run's one cursor save is a PutItem too (SaveCursor), its lease an UpdateItem.
	in.PutItemPerProbe = (count(warm, "DynamoDB.PutItem") - 1) / costRefreshCreds
	in.GetSecretColdPerProbe = count(cold, "Secrets Manager.GetSecretValue") / costRefreshCreds
	in.GetSecretWarmPerProbe = count(warm, "Secrets Manager.GetSecretValue") / costRefreshCreds
	in.ScanPerRun = count(warm, "DynamoDB.Scan")
	in.CursorPerRun = count(warm, "DynamoDB.UpdateItem") + 1 // lease taken with the read, given back with the save
	in.SweepPerRun = count(warm, "Secrets Manager.ListSecrets", "DynamoDB.BatchGetItem", "DynamoDB.GetItem", "Secrets Manager.DescribeSecret")
	in.LogBytesPerRun = runLog

	// What our code logs for a successful request (the handlers log only
	// failures): a credential read and a usage read served from the cache
	// the refresh just wrote.
	logs.Reset()
	for _, id := range ids[:5] {
		if _, err := Do(ctx, get, Request{Method: "GET", Path: "/provider-credentials/" + id, Org: Org, Role: "member"}, 200); err != nil {
			return in, err
		}
		if _, err := Do(ctx, getUsage, Request{Method: "GET", Path: "/provider-credentials/" + id + "/usage", Org: Org, Role: "member"}, 200); err != nil {
			return in, err
		}
	}
	in.LogBytesPerRequest = float64(logs.Len()) / 10

	// The items as stored.
	_, db, _, err := NewClients(ctx, ClientOptions{Endpoint: st.endpoint})
	if err != nil {
		return in, err
	}
	for _, table := range []string{w.Env["CREDENTIALS_TABLE"], w.Env["USAGE_TABLE"]} {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
		if err != nil {
			return in, fmt.Errorf("bench: scan %s: %w", table, err)
		}
		for _, it := range out.Items {
			size := ItemSize(it)
			sk := attrString(it["sk"])
			pk := attrString(it["pk"])
			switch {
			case table == w.Env["USAGE_TABLE"]:
				in.UsageItem = max(in.UsageItem, size)
			case strings.HasPrefix(pk, "#refresh"):
				in.CursorItem = max(in.CursorItem, size)
			case strings.HasPrefix(sk, "CRED#"):
				in.CredentialItem = max(in.CredentialItem, size)
			case strings.HasPrefix(sk, "UNIQ#"):
				in.GuardItem = max(in.GuardItem, size)
			}
		}
	}
	if in.CredentialItem == 0 || in.GuardItem == 0 || in.UsageItem == 0 {
		return in, fmt.Errorf("bench: items not found (credential %d, guard %d, usage %d bytes)", in.CredentialItem, in.GuardItem, in.UsageItem)
	}
	return in, nil
}

func summarizeOps(ops []string) string {
	n := map[string]int{}
	for _, o := range ops {
		n[o]++
	}
	var parts []string
	for o, c := range n {
		parts = append(parts, fmt.Sprintf("%s×%d", o, c))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
