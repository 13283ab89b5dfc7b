package bench

import (
	"fmt"
	"math"
	"strconv"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CostInputs are the figures BenchmarkCostInputs measures against moto.
type CostInputs struct {
	CredentialItem, GuardItem, UsageItem, CursorItem int // DynamoDB item sizes, bytes

	PutItemPerProbe       float64 // usage cache writes per probe
	GetSecretColdPerProbe float64 // key reads per probe, key cache empty
	GetSecretWarmPerProbe float64 // key reads per probe, key cache warm
	ScanPerRun            float64 // Scan pages of the run (1 MB or 1,000 items each)
	CursorPerRun          float64 // cursor and lease writes of the run
	SweepPerRun           float64 // the sweep's calls (ListSecrets pages, claim checks) for costRefreshCreds secrets
	LogBytesPerRun        float64 // summary line + EMF line
	LogBytesPerRequest    float64 // what our code logs for a successful request
	ColdOps, WarmOps      string
}

// ItemSize is an item's size as DynamoDB bills it: each attribute's name
// and value in bytes (numbers: about one byte per two digits, plus one; a
// map or list: 3 bytes plus its elements, each with 1 byte more).
func ItemSize(it map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range it {
		n += len(k) + attrSize(v)
	}
	return n
}

func attrSize(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return (len(v.Value)+1)/2 + 1
	case *ddbtypes.AttributeValueMemberB:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberBOOL, *ddbtypes.AttributeValueMemberNULL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += len(k) + attrSize(e) + 1
		}
		return n
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += attrSize(e) + 1
		}
		return n
	}
	return 0
}

func attrString(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Read and write request units of one item.
func rruConsistent(bytes int) float64 { return math.Ceil(float64(max(bytes, 1)) / 4096) }
func wru(bytes int) float64           { return math.Ceil(float64(max(bytes, 1)) / 1024) }

// CostLine is one part of a cost: what it is, how much of it, and its price.
type CostLine struct {
	What     string
	Quantity float64 // per credential-month, or per million requests
	Unit     string
	Dollars  float64
	How      string // where the quantity comes from
	Estimate bool   // not measured: an assumption, said in How
}

// Schedule is the refresh's deployment: how often, in how many segments,
// with how much memory, over how many credentials.
type Schedule struct {
	RunsPerMonth     float64 // 30 days of the schedule
	Segments         int
	MemoryGB         float64 // the refresh function's MemorySize
	Credentials      int     // the deployment's size, for the per-run costs spread over it
	KeyReadsPerDay   float64 // measured: Secrets Manager reads per credential per day
	SecondsPerProbe  float64 // measured: a run's wall time over the probes it made
	ChangesPerMonth  float64 // assumed: credential changes (events) per credential-month
	PlatformLogBytes float64 // Lambda's own lines per invocation (start, report): estimate
}

// EMFMetrics is how many CloudWatch metrics the refresh's EMF line
// defines (refresh.WriteEMF: 8, and 2 more from the sweep), each a custom
// metric billed per month, under the one Function dimension.
const EMFMetrics = 10

// CredentialMonth is what one credential costs a month at s, line by line:
// its own lines, then its share of what each run costs whatever the
// number of credentials (spread over s.Credentials).
func CredentialMonth(in CostInputs, s Schedule) []CostLine {
	p := Prices
	runs, n := s.RunsPerMonth, float64(s.Credentials)
	invocations := runs * float64(s.Segments)
	scanRRU := runs * float64(in.CredentialItem+in.GuardItem) / 4096 * 0.5
	putWRU := runs * in.PutItemPerProbe * wru(in.UsageItem)
	gbs := runs * s.SecondsPerProbe * s.MemoryGB
	keyReads := s.KeyReadsPerDay * 30
	listCalls := runs / 100 // ListSecrets: 100 secrets a page
	claimRRU := runs * rruConsistent(in.CredentialItem)
	storedGB := float64(in.CredentialItem+in.GuardItem+in.UsageItem+3*100) / (1 << 30) // DynamoDB adds 100 bytes an item
	pitrGB := float64(in.CredentialItem+in.GuardItem+2*100) / (1 << 30)
	logGB := invocations * (in.LogBytesPerRun + s.PlatformLogBytes) / 1e9
	cursorWRU := invocations * in.CursorPerRun * wru(in.CursorItem)
	return []CostLine{
		{What: "Secrets Manager secret", Quantity: 1, Unit: "secret-months", Dollars: p.SecretMonth, How: "one secret per credential"},
		{What: "Secrets Manager key reads", Quantity: keyReads, Unit: "calls", Dollars: keyReads * p.SecretsAPICall,
			How: fmt.Sprintf("%.1f GetSecretValue a day (the key cache's reads per credential per day, measured over simulated runs) × 30", s.KeyReadsPerDay)},
		{What: "DynamoDB scan (refresh)", Quantity: scanRRU, Unit: "RRU", Dollars: scanRRU * p.DynamoRRU,
			How: fmt.Sprintf("%.0f runs × (credential %d B + guard %d B) / 4 KB × 0.5 (eventually consistent scan)", runs, in.CredentialItem, in.GuardItem)},
		{What: "DynamoDB usage cache writes (refresh)", Quantity: putWRU, Unit: "WRU", Dollars: putWRU * p.DynamoWRU,
			How: fmt.Sprintf("%.0f runs × %.2f PutItem a probe × %.0f WRU (usage item %d B)", runs, in.PutItemPerProbe, wru(in.UsageItem), in.UsageItem)},
		{What: "Lambda compute (refresh)", Quantity: gbs, Unit: "GB-s", Dollars: gbs * p.LambdaGBSecondARM,
			How: fmt.Sprintf("%.0f runs × %.2f ms a probe (scale benchmark: run wall time / probes, default concurrency) × %.2f GB", runs, s.SecondsPerProbe*1000, s.MemoryGB)},
		{What: "Sweep: ListSecrets", Quantity: listCalls, Unit: "calls", Dollars: listCalls * p.SecretsAPICall,
			How: fmt.Sprintf("%.0f runs × 1/100 (a page lists 100 secrets)", runs)},
		{What: "Sweep: claim checks", Quantity: claimRRU, Unit: "RRU", Dollars: claimRRU * p.DynamoRRU,
			How: fmt.Sprintf("%.0f runs × one consistent BatchGetItem read of the credential item", runs)},
		{What: "DynamoDB storage + PITR", Quantity: storedGB, Unit: "GB-months", Dollars: storedGB*p.DynamoStorageGB + pitrGB*p.DynamoPITRGB,
			How: "credential, guard and usage items (+100 B each); point-in-time recovery on the credentials table"},
		{What: "Credential change events", Quantity: s.ChangesPerMonth, Unit: "events", Dollars: s.ChangesPerMonth * p.EventBridgeCustom, Estimate: true,
			How: fmt.Sprintf("assumed %.0f change a credential-month, one custom event each (the event publisher; DynamoDB Streams reads by Lambda are free)", s.ChangesPerMonth)},
		{What: "Per run, shared: Lambda invocations", Quantity: invocations / n, Unit: "requests", Dollars: invocations * p.LambdaRequest / n,
			How: fmt.Sprintf("%.0f runs × %d segments, over %d credentials", runs, s.Segments, s.Credentials)},
		{What: "Per run, shared: logs", Quantity: logGB / n * 1e9, Unit: "bytes", Dollars: logGB * p.LogsIngestGB / n, Estimate: true,
			How: fmt.Sprintf("%.0f B measured (summary + EMF line) + %.0f B Lambda's start and report lines (estimate) an invocation, over %d credentials", in.LogBytesPerRun, s.PlatformLogBytes, s.Credentials)},
		{What: "Per run, shared: cursor writes", Quantity: cursorWRU / n, Unit: "WRU", Dollars: cursorWRU * p.DynamoWRU / n,
			How: fmt.Sprintf("%.0f writes a run (lease + save), over %d credentials", in.CursorPerRun, s.Credentials)},
		{What: "Per month, shared: EMF metrics", Quantity: EMFMetrics / n, Unit: "metric-months", Dollars: EMFMetrics * p.CustomMetricMonth / n,
			How: fmt.Sprintf("%d custom metrics (one dimension), over %d credentials", EMFMetrics, s.Credentials)},
	}
}

// Total adds the lines up.
func Total(lines []CostLine) float64 {
	t := 0.0
	for _, l := range lines {
		t += l.Dollars
	}
	return t
}

// RequestMillion is what a million requests of one route cost: API
// Gateway, Lambda (invocations, and duration: the handler's own measured
// time plus callMs for each AWS call, billed by the millisecond), the
// DynamoDB units and Secrets Manager calls of its measured operations, and
// log ingestion.
func RequestMillion(route string, ops []string, handlerNs, callMs, memGB float64, in CostInputs, logBytes, platformLogBytes float64) []CostLine {
	p := Prices
	const m = 1e6
	var rru, wrus, sm float64
	for _, op := range ops {
		switch op {
		case "DynamoDB.GetItem":
			rru += rruConsistent(in.CredentialItem)
		case "DynamoDB.Query":
			rru += math.Ceil(float64(ListSize*in.CredentialItem) / 4096)
		case "DynamoDB.BatchGetItem":
			rru += rruConsistent(in.CredentialItem) + rruConsistent(in.UsageItem)
		case "DynamoDB.PutItem":
			if route == "usage-miss" {
				wrus += wru(in.UsageItem)
			} else {
				wrus += wru(in.CredentialItem)
			}
		case "DynamoDB.UpdateItem":
			wrus += wru(in.CredentialItem)
		case "DynamoDB.TransactWriteItems": // transactions bill twice
			wrus += 2 * (wru(in.CredentialItem) + wru(in.GuardItem))
			if route == "delete" {
				wrus += 2 * wru(in.UsageItem)
			}
		default:
			sm++
		}
	}
	calls := float64(len(ops))
	ms := math.Ceil(handlerNs/1e6 + calls*callMs)
	gbs := m * ms / 1000 * memGB
	logGB := m * (logBytes + platformLogBytes) / 1e9
	return []CostLine{
		{What: "API Gateway HTTP API", Quantity: m, Unit: "requests", Dollars: m * p.HTTPAPIRequest},
		{What: "Lambda invocations", Quantity: m, Unit: "requests", Dollars: m * p.LambdaRequest},
		{What: "Lambda duration", Quantity: gbs, Unit: "GB-s", Dollars: gbs * p.LambdaGBSecondARM, Estimate: true,
			How: fmt.Sprintf("%.0f ms billed: %.3f ms measured handler + %.0f AWS calls × %.0f ms (assumed in-region latency), %.2f GB", ms, handlerNs/1e6, calls, callMs, memGB)},
		{What: "DynamoDB reads", Quantity: m * rru, Unit: "RRU", Dollars: m * rru * p.DynamoRRU, How: strconv.FormatFloat(rru, 'f', -1, 64) + " RRU a request"},
		{What: "DynamoDB writes", Quantity: m * wrus, Unit: "WRU", Dollars: m * wrus * p.DynamoWRU, How: strconv.FormatFloat(wrus, 'f', -1, 64) + " WRU a request"},
		{What: "Secrets Manager calls", Quantity: m * sm, Unit: "calls", Dollars: m * sm * p.SecretsAPICall},
		{What: "CloudWatch Logs", Quantity: logGB, Unit: "GB", Dollars: logGB * p.LogsIngestGB, Estimate: true,
			How: fmt.Sprintf("%.0f B our code (measured) + %.0f B Lambda's start and report lines (estimate) a request", logBytes, platformLogBytes)},
	}
}

// PlatformLogBytes is the size of the two lines Lambda writes itself for
// each invocation in the JSON log format (platform.start and
// platform.report at the default INFO system log level), as documented;
// these cannot be measured outside Lambda.
var PlatformLogBytes = float64(len(`{"time":"2026-11-30T08:04:00.000Z","type":"platform.start","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST"}}`) +
	len(`{"time":"2026-11-30T08:04:00.012Z","type":"platform.report","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","metrics":{"durationMs":11.92,"billedDurationMs":12,"memorySizeMB":256,"maxMemoryUsedMB":21},"status":"success"}}`) + 2)
