package bench

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/moto"
	"github.com/acme/provider-credentials/shared/dev/rie"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/routes"
)

// Nothing here runs under plain `go test`: there are no tests, and the
// emulator, the builds and the recordings start only when a benchmark asks.
// `make bench` (cmd/bench) runs them and prints the table.

func TestMain(m *testing.M) {
	code := m.Run()
	if st.moto != nil {
		st.moto.Stop()
	}
	os.Exit(code)
}

// st is the state the benchmarks share, built once per test binary: the
// emulator, a fake provider, and every route recorded against them.
var st struct {
	once     sync.Once
	err      error
	root     string
	tpl      *samtemplate.Template
	moto     *moto.Server
	endpoint string
	provider string // base URL of FakeProvider
	world    *World
	outcomes []Outcome
}

func shared(b *testing.B) {
	b.Helper()
	st.once.Do(func() { st.err = setup(context.Background()) })
	if st.err != nil {
		b.Fatal(st.err)
	}
}

func setup(ctx context.Context) error {
	var err error
	if st.root, err = RepoRoot(); err != nil {
		return err
	}
	if st.tpl, err = samtemplate.Load(filepath.Join(st.root, "template.yaml")); err != nil {
		return err
	}
	if st.endpoint = os.Getenv("AWS_ENDPOINT_URL"); st.endpoint == "" {
		if st.moto, err = moto.Start(ctx); err != nil {
			return err
		}
		st.endpoint = st.moto.URL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(l, FakeProvider()) }()
	st.provider = "http://" + l.Addr().String()
	if st.world, err = NewWorld(ctx, st.endpoint, st.tpl); err != nil {
		return err
	}
	st.outcomes, err = st.world.Record(ctx, st.provider)
	return err
}

// BenchmarkAWSCalls reports the AWS operations one request of each route
// and outcome makes, counted by an SDK middleware against moto, and fails
// when a route makes more than the design allows. The count comes from one
// real request; the loop has nothing to time (run it with -benchtime 1x).
func BenchmarkAWSCalls(b *testing.B) {
	shared(b)
	for _, o := range st.outcomes {
		b.Run(o.Name, func(b *testing.B) {
			b.Logf("calls %s target=%d ops=%s", o.Name, o.Target, strings.Join(o.Ops, ","))
			if o.Over() {
				b.Errorf("%s: %d AWS calls %v, over the target of %d (%s)", o.Name, len(o.Ops), o.Ops, o.Target, o.Why)
			}
			for b.Loop() {
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(len(o.Ops)), "calls")
			b.ReportMetric(float64(o.Target), "target")
		})
	}
}

// BenchmarkHandler measures our own cost per request: each route's real
// handler behind the Lambda adapter (httpadapter.NewV2(h).ProxyWithContext,
// as lambda.Start calls it) with a payload 2.0 event, and the real AWS SDK
// clients answered in process by the responses moto gave (no emulator, no
// socket, no retries). The usage-miss and test routes also probe
// FakeProvider over loopback.
func BenchmarkHandler(b *testing.B) {
	shared(b)
	ctx := context.Background()
	for _, o := range st.outcomes {
		b.Run(o.Name, func(b *testing.B) {
			clients, _, _, err := NewClients(ctx, ClientOptions{
				HTTP: &http.Client{Transport: Replay{Responses: o.Responses}}, NoRetry: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			bld, err := app.NewBuilder(ctx, st.world.Getenv, clients)
			if err != nil {
				b.Fatal(err)
			}
			bld.Log = slog.New(slog.DiscardHandler)
			h, err := routes.Handler(bld, o.Function)
			if err != nil {
				b.Fatal(err)
			}
			invoke := httpadapter.NewV2(h).ProxyWithContext
			ev := Event(o.Request, time.Now())
			b.ReportAllocs()
			for b.Loop() {
				resp, err := invoke(ctx, ev)
				if err != nil || resp.StatusCode != o.Status {
					b.Fatalf("%s: status %d, err %v, want %d: %s", o.Name, resp.StatusCode, err, o.Status, resp.Body)
				}
			}
		})
	}
}

var sizes struct {
	once sync.Once
	err  error
	bins map[string]map[string]string // arch → folder → bootstrap
}

// BenchmarkBinarySize reports each template function's stripped bootstrap
// (built as the Makefile's build-% target does) for arm64 and amd64, and
// its size zipped as SAM packages it; and the same for the SizeFloors
// reference programs (floor-<name>/<arch>). Nothing is timed: run with
// -benchtime 1x.
func BenchmarkBinarySize(b *testing.B) {
	root, err := RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	dirs := FunctionDirs(tpl)
	sizes.once.Do(func() {
		out, err := os.MkdirTemp("", "bench-build-")
		if err != nil {
			sizes.err = err
			return
		}
		sizes.bins = map[string]map[string]string{}
		for _, arch := range []string{"arm64", "amd64"} {
			pkgs := Packages(dirs)
			for _, f := range SizeFloors {
				pkgs = append(pkgs, "./shared/dev/bench/testdata/sizefloor/"+f)
			}
			if sizes.bins[arch], err = Build(context.Background(), root, out, arch, pkgs); err != nil {
				sizes.err = err
				return
			}
		}
	})
	if sizes.err != nil {
		b.Fatal(sizes.err)
	}
	for _, dir := range append(dirs, SizeFloors...) {
		for _, arch := range []string{"arm64", "amd64"} {
			name := dir + "/" + arch
			if slices.Contains(SizeFloors, dir) {
				name = "floor-" + name
			}
			b.Run(name, func(b *testing.B) {
				bin := sizes.bins[arch][dir]
				fi, err := os.Stat(bin)
				if err != nil {
					b.Fatal(err)
				}
				zipped, err := ZipSize(bin)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
				}
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(fi.Size()), "bytes")
				b.ReportMetric(float64(zipped), "zip-bytes")
			})
		}
	}
}

// BenchmarkColdStart starts each template function's real bootstrap (host
// architecture: arm64 would run under qemu here) under the Lambda Runtime
// Interface Emulator, once per iteration, and reports over every start so
// far: the median time from starting the emulator to the first response (a
// real answer that reads DynamoDB), the median INIT REPORT duration, and
// the largest peak RSS of the bootstrap. Run with -benchtime 5x (6 starts:
// the framework's first round counts too).
func BenchmarkColdStart(b *testing.B) {
	shared(b)
	ctx := context.Background()
	rieBin, err := rie.Binary(ctx)
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.MkdirTemp("", "bench-cold-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(out) })
	fns := st.tpl.Functions()
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, FunctionDir(fn))
	}
	bins, err := Build(ctx, st.root, out, runtime.GOARCH, Packages(dirs))
	if err != nil {
		b.Fatal(err)
	}
	seed, err := st.world.seedForColdStart(ctx, st.provider)
	if err != nil {
		b.Fatal(err)
	}
	for _, fn := range fns {
		dir := FunctionDir(fn)
		vars, err := rie.FunctionEnv(st.tpl, fn, nil, map[string]string{
			"CredentialsTable": st.world.Env["CREDENTIALS_TABLE"], "UsageTable": st.world.Env["USAGE_TABLE"],
		})
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range st.world.Env {
			vars[k] = v
		}
		vars["AWS_ENDPOINT_URL"], vars["AWS_REGION"] = st.endpoint, "us-east-1"
		vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"] = "bench", "bench"
		env := rie.Env(vars)
		var samples []ColdStart
		b.Run(dir, func(b *testing.B) {
			for range b.N {
				event, check, err := seed.event(ctx, fn)
				if err != nil {
					b.Fatal(err)
				}
				cs, err := StartCold(ctx, rieBin, bins[dir], env, event)
				if err != nil {
					b.Fatal(err)
				}
				if err := check(cs.Response); err != nil {
					b.Fatalf("%s: first response: %v", dir, err)
				}
				samples = append(samples, cs)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(len(samples)), "starts")
			b.ReportMetric(median(samples, func(c ColdStart) float64 { return ms(c.FirstResponse) }), "ms-first-response")
			b.ReportMetric(median(samples, func(c ColdStart) float64 { return ms(c.InitReport) }), "ms-init-report")
			b.ReportMetric(slices.Max(project(samples, func(c ColdStart) float64 { return float64(c.PeakRSS) })), "peak-rss-bytes")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func project(s []ColdStart, f func(ColdStart) float64) []float64 {
	v := make([]float64, len(s))
	for i, c := range s {
		v[i] = f(c)
	}
	return v
}

func median(s []ColdStart, f func(ColdStart) float64) float64 {
	v := project(s, f)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// FunctionDir is the folder under functions/ of a template function.
func FunctionDir(fn samtemplate.Function) string { return localapi.FunctionDir(fn.LogicalID) }

// BenchmarkSDKFloor is the part of a handler's cost that is the AWS SDK's
// alone: one DynamoDB GetItem (the get route's only call) through the same
// replayed response, with no handler around it.
func BenchmarkSDKFloor(b *testing.B) {
	shared(b)
	ctx := context.Background()
	i := slices.IndexFunc(st.outcomes, func(o Outcome) bool { return o.Name == "get" })
	_, db, _, err := NewClients(ctx, ClientOptions{
		HTTP: &http.Client{Transport: Replay{Responses: st.outcomes[i].Responses}}, NoRetry: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	in := getItemInput()
	b.Run("getitem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.GetItem(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMotoRoundTrip is one GetItem, and one list Query of Org, against
// moto over loopback: what each AWS call adds to a cold start measured here
// (moto's latency, not AWS's).
func BenchmarkMotoRoundTrip(b *testing.B) {
	shared(b)
	ctx := context.Background()
	_, db, _, err := NewClients(ctx, ClientOptions{Endpoint: st.endpoint})
	if err != nil {
		b.Fatal(err)
	}
	in := getItemInput()
	b.Run("getitem", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetItem(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	store := dynamo.New(db, st.world.Env["CREDENTIALS_TABLE"], st.world.Env["USAGE_TABLE"])
	b.Run("query", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.List(ctx, Org); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// getItemInput is the get route's own GetItem: the keyed credential of the
// recorded scenario, under the credentials table's real key layout.
func getItemInput() *dynamodb.GetItemInput {
	i := slices.IndexFunc(st.outcomes, func(o Outcome) bool { return o.Name == "get" })
	return &dynamodb.GetItemInput{
		TableName: aws.String(st.world.Env["CREDENTIALS_TABLE"]), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: Org},
			"sk": &ddbtypes.AttributeValueMemberS{Value: "CRED#" + path.Base(st.outcomes[i].Request.Path)},
		},
	}
}
