package templatecheck_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/refresh"
)

// refs resolves the template's intrinsics for the checks: parameter
// defaults, pseudo parameters, and every resource as "ref:<LogicalId>"
// (its attributes as "ref:<LogicalId>.<Attr>").
func refs(tpl *samtemplate.Template) map[string]string {
	r := tpl.ParameterValues(nil)
	for k, v := range map[string]string{"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
		"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "stack"} {
		r[k] = v
	}
	for id := range tpl.Resources {
		r[id] = "ref:" + id
		for _, a := range []string{"Arn", "StreamArn"} {
			r[id+"."+a] = "ref:" + id + "." + a
		}
	}
	return r
}

func isRef(v any, name string) bool {
	i, ok := v.(samtemplate.Intrinsic)
	return ok && i.Fn == "Ref" && i.Args == name
}

// ifNoValue returns the condition and the true branch of
// !If [cond, value, !Ref AWS::NoValue].
func ifNoValue(v any) (string, any, bool) {
	i, ok := v.(samtemplate.Intrinsic)
	args, _ := i.Args.([]any)
	if !ok || i.Fn != "Fn::If" || len(args) != 3 || !isRef(args[2], "AWS::NoValue") {
		return "", nil, false
	}
	cond, _ := args[0].(string)
	return cond, args[1], true
}

// conditionIsSet reports whether a condition is !Not [!Equals [!Ref param, ""]].
func conditionIsSet(tpl *samtemplate.Template, cond, param string) bool {
	not, ok := tpl.Conditions[cond].(samtemplate.Intrinsic)
	args, _ := not.Args.([]any)
	if !ok || not.Fn != "Fn::Not" || len(args) != 1 {
		return false
	}
	eq, ok := args[0].(samtemplate.Intrinsic)
	ea, _ := eq.Args.([]any)
	return ok && eq.Fn == "Fn::Equals" && len(ea) == 2 && isRef(ea[0], param) && ea[1] == ""
}

func mapAt(v any, path ...string) map[string]any {
	m, _ := v.(map[string]any)
	for _, p := range path {
		m, _ = m[p].(map[string]any)
	}
	return m
}

var validRetention = []string{"1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"}

// retained checks that a log group keeps its events LogRetentionDays.
func retained(t *testing.T, tpl *samtemplate.Template, id, what string) samtemplate.Resource {
	t.Helper()
	lg, ok := tpl.Resources[id]
	if !ok || lg.Type != "AWS::Logs::LogGroup" {
		t.Errorf("%s: log group %s is %q, want an AWS::Logs::LogGroup", what, id, lg.Type)
		return lg
	}
	if !isRef(lg.Properties["RetentionInDays"], "LogRetentionDays") {
		t.Errorf("%s: %s RetentionInDays = %v, want !Ref LogRetentionDays", what, id, lg.Properties["RetentionInDays"])
	}
	return lg
}

// Every function logs in Lambda's JSON format to a log group of its own,
// created by the stack with the retention of LogRetentionDays (default 30,
// only values CloudWatch accepts), named as Lambda names function groups.
func TestFunctionLogGroupsHaveRetention(t *testing.T) {
	tpl := load(t)
	p := tpl.Parameters["LogRetentionDays"]
	if p.Default != "30" || !reflect.DeepEqual(p.AllowedValues, validRetention) {
		t.Errorf("LogRetentionDays: default %q, allowed %v; want 30 and CloudWatch's values %v", p.Default, p.AllowedValues, validRetention)
	}
	r := refs(tpl)
	seen := map[string]string{}
	for _, fn := range tpl.Functions() {
		lc := mapAt(fn.Properties, "LoggingConfig")
		if lc["LogFormat"] != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat = %v, want JSON", fn.LogicalID, lc["LogFormat"])
		}
		ref, ok := lc["LogGroup"].(samtemplate.Intrinsic)
		id, _ := ref.Args.(string)
		if !ok || ref.Fn != "Ref" {
			t.Errorf("%s: LoggingConfig.LogGroup = %v, want !Ref to its own AWS::Logs::LogGroup", fn.LogicalID, lc["LogGroup"])
			continue
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s share log group %s, want one each", fn.LogicalID, prev, id)
		}
		seen[id] = fn.LogicalID
		lg := retained(t, tpl, id, fn.LogicalID)
		name, err := samtemplate.ResolveString(lg.Properties["LogGroupName"], r)
		if err != nil || !strings.HasPrefix(name, "/aws/lambda/stack-") {
			t.Errorf("%s: %s LogGroupName = %q (%v), want /aws/lambda/<stack>-<function>", fn.LogicalID, id, name, err)
		}
	}
}

// The HTTP API's stage writes JSON access logs, with the fields an
// operator needs (a 401 from the authorizer included), to a log group with
// retention.
func TestAPIAccessLogs(t *testing.T) {
	tpl := load(t)
	api := tpl.Resources["Api"].Properties
	als := mapAt(api, "AccessLogSettings")
	dest, ok := als["DestinationArn"].(samtemplate.Intrinsic)
	parts, _ := dest.Args.([]any)
	if !ok || dest.Fn != "Fn::GetAtt" || len(parts) != 2 || parts[1] != "Arn" {
		t.Fatalf("Api AccessLogSettings.DestinationArn = %v, want !GetAtt <LogGroup>.Arn", als["DestinationArn"])
	}
	retained(t, tpl, parts[0].(string), "Api access logs")
	format, err := samtemplate.ResolveString(als["Format"], refs(tpl))
	if err != nil {
		t.Fatalf("Api AccessLogSettings.Format: %v", err)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(format), &fields); err != nil {
		t.Fatalf("Api access log format %q is not a JSON object of strings: %v", format, err)
	}
	var vars []string
	for _, v := range fields {
		vars = append(vars, v)
	}
	for _, want := range []string{"$context.requestId", "$context.routeKey", "$context.status", "$context.responseLatency",
		"$context.integrationErrorMessage", "$context.authorizer.error", "$context.identity.sourceIp",
		"$context.authorizer.claims.org_id"} {
		if !slices.Contains(vars, want) {
			t.Errorf("Api access log format has no %s; got %s", want, format)
		}
	}
}

// Route throttling with parameters for burst and rate; per-route metrics
// for the dashboard; the refresh's reserved concurrency lets each of a
// tick's segments run and nothing more; CORS only when AllowedOrigins is set.
func TestLimitsAndCORS(t *testing.T) {
	tpl := load(t)
	api := tpl.Resources["Api"].Properties
	drs := mapAt(api, "DefaultRouteSettings")
	for k, param := range map[string]string{"ThrottlingBurstLimit": "ThrottleBurstLimit", "ThrottlingRateLimit": "ThrottleRateLimit"} {
		if !isRef(drs[k], param) || !tpl.Parameters[param].HasDefault {
			t.Errorf("Api DefaultRouteSettings.%s = %v, want !Ref %s (a parameter with a default)", k, drs[k], param)
		}
	}
	if drs["DetailedMetricsEnabled"] != true {
		t.Errorf("Api DefaultRouteSettings.DetailedMetricsEnabled = %v, want true (per-route metrics)", drs["DetailedMetricsEnabled"])
	}

	fn, _ := tpl.Function("RefreshUsageFunction")
	rc := fn.Properties["ReservedConcurrentExecutions"]
	if !isRef(rc, "RefreshSegments") {
		t.Errorf("RefreshUsageFunction ReservedConcurrentExecutions = %v, want !Ref RefreshSegments (one instance per segment)", rc)
	}
	if age := mapAt(fn.Properties, "EventInvokeConfig")["MaximumEventAgeInSeconds"]; age == nil {
		t.Errorf("RefreshUsageFunction EventInvokeConfig has no MaximumEventAgeInSeconds: a throttled tick would be retried for hours")
	}

	if p := tpl.Parameters["AllowedOrigins"]; !p.HasDefault || p.Default != "" {
		t.Errorf("AllowedOrigins: default %q (has %v), want empty: no CORS unless asked", p.Default, p.HasDefault)
	}
	cond, cors, ok := ifNoValue(api["CorsConfiguration"])
	if !ok || !conditionIsSet(tpl, cond, "AllowedOrigins") {
		t.Fatalf("Api CorsConfiguration = %v, want !If [<AllowedOrigins is set>, {...}, !Ref AWS::NoValue]", api["CorsConfiguration"])
	}
	c := mapAt(cors)
	if !strings.Contains(samtemplate.Intrinsic{Fn: "x", Args: c["AllowOrigins"]}.String(), "AllowedOrigins") {
		t.Errorf("CorsConfiguration.AllowOrigins = %v, want it from AllowedOrigins", c["AllowOrigins"])
	}
	var headers []string
	for _, h := range c["AllowHeaders"].([]any) {
		headers = append(headers, strings.ToLower(h.(string)))
	}
	for _, h := range []string{"authorization", "content-type"} {
		if !slices.Contains(headers, h) {
			t.Errorf("CorsConfiguration.AllowHeaders = %v, want %s", c["AllowHeaders"], h)
		}
	}
	if c["MaxAge"] == nil || c["AllowMethods"] == nil {
		t.Errorf("CorsConfiguration = %v, want AllowMethods and MaxAge", c)
	}
}

// Both tables survive a stack deletion or replacement; the credentials
// table refuses deletion outright.
func TestTablesAreRetained(t *testing.T) {
	tpl := load(t)
	for _, id := range tpl.ResourcesOfType("AWS::DynamoDB::Table") {
		r := tpl.Resources[id]
		if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
			t.Errorf("%s: DeletionPolicy %q, UpdateReplacePolicy %q; want Retain, Retain", id, r.DeletionPolicy, r.UpdateReplacePolicy)
		}
	}
	if v := tpl.Resources["CredentialsTable"].Properties["DeletionProtectionEnabled"]; v != true {
		t.Errorf("CredentialsTable DeletionProtectionEnabled = %v, want true", v)
	}
}

// With KmsKeyArn set (default empty: the AWS managed key), new secrets name
// the key (SECRET_KMS_KEY_ID), and exactly the functions that write key
// values get kms:GenerateDataKey and kms:Decrypt on that key, those that
// read them kms:Decrypt, only through Secrets Manager; no grant otherwise.
func TestCustomerManagedKey(t *testing.T) {
	tpl := load(t)
	if p := tpl.Parameters["KmsKeyArn"]; !p.HasDefault || p.Default != "" {
		t.Errorf("KmsKeyArn: default %q, want empty", p.Default)
	}
	granted := map[string][]string{} // role → KMS actions
	for _, id := range tpl.ResourcesOfType("AWS::IAM::Policy") {
		r := tpl.Resources[id]
		var actions []string
		for _, sv := range mapAt(r.Properties, "PolicyDocument")["Statement"].([]any) {
			st := mapAt(sv)
			for _, a := range list(st["Action"]) {
				if s := a.(string); strings.HasPrefix(s, "kms:") {
					actions = append(actions, s)
					if !isRef(st["Resource"], "KmsKeyArn") {
						t.Errorf("%s: %s on %v, want on !Ref KmsKeyArn only", id, s, st["Resource"])
					}
					if mapAt(st, "Condition", "StringEquals")["kms:ViaService"] == nil {
						t.Errorf("%s: %s without a kms:ViaService condition", id, s)
					}
				}
			}
		}
		if len(actions) == 0 {
			continue
		}
		if !conditionIsSet(tpl, r.Condition, "KmsKeyArn") {
			t.Errorf("%s: Condition %q, want one that holds only when KmsKeyArn is set", id, r.Condition)
		}
		for _, role := range list(r.Properties["Roles"]) {
			i, _ := role.(samtemplate.Intrinsic)
			name, _ := i.Args.(string)
			granted[name] = append(granted[name], actions...)
		}
	}
	for _, fn := range tpl.Functions() {
		env := fn.Environment["SECRET_KMS_KEY_ID"]
		if !isRef(env, "KmsKeyArn") {
			t.Errorf("%s: SECRET_KMS_KEY_ID = %v, want !Ref KmsKeyArn", fn.LogicalID, env)
		}
		var want []string
		switch sm := secretActions(fn); {
		case sm["secretsmanager:CreateSecret"] || sm["secretsmanager:PutSecretValue"]:
			want = []string{"kms:Decrypt", "kms:GenerateDataKey"}
		case sm["secretsmanager:GetSecretValue"]:
			want = []string{"kms:Decrypt"}
		}
		got := slices.Sorted(slices.Values(granted[fn.LogicalID+"Role"]))
		if !slices.Equal(got, want) {
			t.Errorf("%s: KMS grants %v, want %v (from its Secrets Manager actions)", fn.LogicalID, got, want)
		}
	}
}

func secretActions(fn samtemplate.Function) map[string]bool {
	out := map[string]bool{}
	for _, p := range fn.Policies {
		for _, sv := range list(mapAt(p)["Statement"]) {
			for _, a := range list(mapAt(sv)["Action"]) {
				if s, ok := a.(string); ok {
					out[s] = true
				}
			}
		}
	}
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// metric is one CloudWatch metric an alarm or the dashboard reads.
type metric struct {
	Namespace, Name string
	Dims            map[string]string
}

// alarmMetrics returns the metrics of an alarm, its own or its metric
// math's, with references resolved.
func alarmMetrics(t *testing.T, props map[string]any, r map[string]string) []metric {
	t.Helper()
	one := func(ns, name any, dims any) metric {
		m := metric{Namespace: ns.(string), Name: name.(string), Dims: map[string]string{}}
		for _, d := range list(dims) {
			dm := mapAt(d)
			v, err := samtemplate.ResolveString(dm["Value"], r)
			if err != nil {
				t.Errorf("dimension %v: %v", d, err)
			}
			m.Dims[dm["Name"].(string)] = v
		}
		return m
	}
	if props["MetricName"] != nil {
		return []metric{one(props["Namespace"], props["MetricName"], props["Dimensions"])}
	}
	var out []metric
	for _, q := range list(props["Metrics"]) {
		if m := mapAt(q, "MetricStat", "Metric"); m != nil {
			out = append(out, one(m["Namespace"], m["MetricName"], m["Dimensions"]))
		}
	}
	return out
}

// emfMetrics returns the figures the refresh writes (namespace, dimension
// and names), from its own EMF writer.
func emfMetrics(t *testing.T) (string, map[string]string, []string) {
	t.Helper()
	var b bytes.Buffer
	if err := refresh.WriteEMF(&b, time.Now(), refresh.Report{Sweep: &refresh.SweepStats{}}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cw := mapAt(list(mapAt(doc, "_aws")["CloudWatchMetrics"])[0])
	dims := map[string]string{}
	for _, d := range list(list(cw["Dimensions"])[0]) {
		dims[d.(string)] = doc[d.(string)].(string)
	}
	var names []string
	for _, m := range list(cw["Metrics"]) {
		names = append(names, mapAt(m)["Name"].(string))
	}
	return cw["Namespace"].(string), dims, names
}

// The alarms: each watches what the issue names, notifies AlarmTopicArn
// only when it is set, and has a row in README.md's alarm table. Metrics
// of the refresh are the ones its EMF line writes, with its dimension.
func TestAlarms(t *testing.T) {
	tpl := load(t)
	r := refs(tpl)
	if p := tpl.Parameters["AlarmTopicArn"]; !p.HasDefault || p.Default != "" {
		t.Errorf("AlarmTopicArn: default %q, want empty (no actions)", p.Default)
	}
	ns, emfDims, emfNames := emfMetrics(t)
	readme, err := os.ReadFile(filepath.Join(awstest.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string][]string{} // "namespace name" → alarms
	dimsOf := map[string][]map[string]string{}
	for _, id := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		props := tpl.Resources[id].Properties
		for _, k := range []string{"AlarmActions", "OKActions"} {
			cond, v, ok := ifNoValue(props[k])
			l, _ := v.([]any)
			if !ok || !conditionIsSet(tpl, cond, "AlarmTopicArn") || len(l) != 1 || !isRef(l[0], "AlarmTopicArn") {
				t.Errorf("%s: %s = %v, want !If [<AlarmTopicArn is set>, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", id, k, props[k])
			}
		}
		if !bytes.Contains(readme, []byte("| `"+id+"` |")) {
			t.Errorf("%s: README.md has no row | `%s` | in its alarm table", id, id)
		}
		for _, m := range alarmMetrics(t, props, r) {
			k := m.Namespace + " " + m.Name
			watched[k] = append(watched[k], id)
			dimsOf[k] = append(dimsOf[k], m.Dims)
			if m.Namespace == ns {
				if !slices.Contains(emfNames, m.Name) || !reflect.DeepEqual(m.Dims, emfDims) {
					t.Errorf("%s: %s %v is not a figure the refresh writes (%v with %v)", id, m.Name, m.Dims, emfNames, emfDims)
				}
			}
		}
	}
	for _, want := range []string{"AWS/Lambda Errors", "AWS/Lambda Invocations", ns + " SkippedForTime", ns + " RunsSkipped", ns + " Unreachable", ns + " Probed",
		ns + " CacheWriteFailed", "AWS/ApiGateway 5xx", "AWS/ApiGateway Count", "AWS/Lambda Throttles"} {
		if len(watched[want]) == 0 {
			t.Errorf("no alarm watches %s", want)
		}
	}
	if !slices.ContainsFunc(dimsOf["AWS/Lambda Errors"], func(d map[string]string) bool { return d["FunctionName"] == "ref:RefreshUsageFunction" }) {
		t.Errorf("no alarm watches the refresh function's Errors; got %v", dimsOf["AWS/Lambda Errors"])
	}
	// A refresh that never runs: its Invocations, missing data breaching.
	for _, id := range watched["AWS/Lambda Invocations"] {
		props := tpl.Resources[id].Properties
		if props["TreatMissingData"] != "breaching" || props["ComparisonOperator"] != "LessThanThreshold" {
			t.Errorf("%s: TreatMissingData %v, %v; want breaching, LessThanThreshold (a refresh that never runs sends no data)", id, props["TreatMissingData"], props["ComparisonOperator"])
		}
	}
	if !slices.ContainsFunc(dimsOf["AWS/Lambda Invocations"], func(d map[string]string) bool { return d["FunctionName"] == "ref:RefreshUsageFunction" }) {
		t.Errorf("no alarm watches that the refresh function runs; got %v", dimsOf["AWS/Lambda Invocations"])
	}
	// The unreachable share: one alarm over both figures, threshold a parameter.
	share := ""
	for _, id := range watched[ns+" Unreachable"] {
		if slices.Contains(watched[ns+" Probed"], id) {
			share = id
		}
	}
	if share == "" || !isRef(tpl.Resources[share].Properties["Threshold"], "UnreachableShareThreshold") {
		t.Errorf("no alarm on Unreachable / Probed with Threshold !Ref UnreachableShareThreshold (got %q)", share)
	}
	// Throttles of every function, and of both tables.
	for _, fn := range tpl.Functions() {
		if !slices.ContainsFunc(dimsOf["AWS/Lambda Throttles"], func(d map[string]string) bool { return d["FunctionName"] == "ref:"+fn.LogicalID }) {
			t.Errorf("no alarm watches the throttles of %s", fn.LogicalID)
		}
	}
	for _, table := range tpl.ResourcesOfType("AWS::DynamoDB::Table") {
		for _, m := range []string{"ReadThrottleEvents", "WriteThrottleEvents"} {
			if !slices.ContainsFunc(dimsOf["AWS/DynamoDB "+m], func(d map[string]string) bool { return d["TableName"] == "ref:"+table }) {
				t.Errorf("no alarm watches DynamoDB %s of %s", m, table)
			}
		}
	}
}

// The dashboard shows requests, 4xx and 5xx, latency p50 and p99 of every
// route, the refresh's probed / reachable / unreachable / skipped, the
// sweep's deletions and restores, and throttles.
func TestDashboard(t *testing.T) {
	tpl := load(t)
	ids := tpl.ResourcesOfType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("dashboards %v, want one", ids)
	}
	body, err := samtemplate.ResolveString(tpl.Resources[ids[0]].Properties["DashboardBody"], refs(tpl))
	if err != nil {
		t.Fatalf("DashboardBody: %v", err)
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Stat    string  `json:"stat"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	shown := map[string]bool{} // "namespace name [stat] [dim=value...]"
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			stat := w.Properties.Stat
			var dims []string
			for i := 2; i+1 < len(m); i += 2 {
				dims = append(dims, m[i].(string)+"="+m[i+1].(string))
			}
			if opts, ok := m[len(m)-1].(map[string]any); ok && opts["stat"] != nil {
				stat = opts["stat"].(string)
			}
			ns, name := m[0].(string), m[1].(string)
			shown[ns+" "+name] = true
			shown[ns+" "+name+" "+stat+" "+strings.Join(dims, " ")] = true
		}
	}
	ns, _, _ := emfMetrics(t)
	for _, want := range []string{"AWS/ApiGateway Count", "AWS/ApiGateway 4xx", "AWS/ApiGateway 5xx",
		ns + " Probed", ns + " Reachable", ns + " Unreachable", ns + " SkippedForTime", ns + " RunsSkipped",
		ns + " OrphanedSecretsDeleted", ns + " RestoredSecrets", "AWS/Lambda Throttles"} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	for _, route := range specRoutes {
		method, path, _ := strings.Cut(route, " ")
		for _, stat := range []string{"p50", "p99"} {
			k := "AWS/ApiGateway Latency " + stat + " ApiId=ref:Api Method=" + method + " Resource=" + path + " Stage=$default"
			if !shown[k] {
				t.Errorf("the dashboard does not show the %s latency of %s (want %q)", stat, route, k)
			}
		}
	}
}
