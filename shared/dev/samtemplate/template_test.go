package samtemplate

import (
	"errors"
	"reflect"
	"testing"
)

func load(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load("testdata/template.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tpl
}

func TestParameters(t *testing.T) {
	tpl := load(t)
	tests := []struct {
		name string
		want Parameter
	}{
		{"Stage", Parameter{Type: "String", Default: "dev", HasDefault: true, AllowedValues: []string{"dev", "prod"}}},
		{"JwtIssuer", Parameter{Type: "String"}},
		{"UsageCacheSeconds", Parameter{Type: "Number", Default: "60", HasDefault: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tpl.Parameters[tt.name]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if tpl.FormatVersion != "2010-09-09" || tpl.Transform != "AWS::Serverless-2016-10-31" {
		t.Errorf("header = %q %v, want 2010-09-09 AWS::Serverless-2016-10-31", tpl.FormatVersion, tpl.Transform)
	}
	want := Intrinsic{Fn: "Fn::Equals", Args: []any{Intrinsic{Fn: "Ref", Args: "Stage"}, "prod"}}
	if got := tpl.Conditions["IsProd"]; !reflect.DeepEqual(got, want) {
		t.Errorf("Conditions.IsProd = %#v, want %#v", got, want)
	}
}

func TestFunctions(t *testing.T) {
	tpl := load(t)
	fns := tpl.Functions()
	var ids []string
	for _, f := range fns {
		ids = append(ids, f.LogicalID)
	}
	if want := []string{"GetUsageFunction", "LegacyFunction", "ListCredentialsFunction", "RefreshUsageFunction"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("functions = %q, want %q", ids, want)
	}
	byID := map[string]Function{}
	for _, f := range fns {
		byID[f.LogicalID] = f
	}
	list, usage, refresh, legacy := byID["ListCredentialsFunction"], byID["GetUsageFunction"], byID["RefreshUsageFunction"], byID["LegacyFunction"]
	ref := func(n string) Intrinsic { return Intrinsic{Fn: "Ref", Args: n} }

	checks := []struct {
		name      string
		got, want any
	}{
		{"runtime from Globals", list.Runtime, "provided.al2023"},
		{"handler from Globals", list.Handler, "bootstrap"},
		{"code uri", list.CodeURI, "."},
		{"build method", list.BuildMethod, "makefile"},
		{"architectures from Globals", list.Architectures, []string{"arm64"}},
		{"architectures from Globals", refresh.Architectures, []string{"arm64"}},
		{"timeout from Globals", list.Properties["Timeout"], 10},
		{"timeout overridden", usage.Properties["Timeout"], 30},
		{"environment from Globals", list.Environment, map[string]any{
			"CREDENTIALS_TABLE": ref("CredentialsTable"), "ORG_ID_CLAIM": "org_id",
			"USAGE_CACHE_SECONDS": ref("UsageCacheSeconds"), "STAGE": ref("Stage"),
		}},
		{"environment merged, function wins", usage.Environment["STAGE"], "local-override"},
		{"environment keeps globals", usage.Environment["CREDENTIALS_TABLE"], ref("CredentialsTable")},
		{"environment !Sub", usage.Environment["SECRET_PREFIX"], Intrinsic{Fn: "Fn::Sub", Args: "provider-credentials/${Stage}/"}},
		{"environment !GetAtt", usage.Environment["TABLE_ARN"], Intrinsic{Fn: "Fn::GetAtt", Args: []any{"CredentialsTable", "Arn"}}},
		{"policy template", list.Policies, []any{map[string]any{"DynamoDBReadPolicy": map[string]any{"TableName": ref("CredentialsTable")}}}},
		{"policy statement", usage.Policies[1].(map[string]any)["Statement"].([]any)[0].(map[string]any)["Action"], []any{"secretsmanager:GetSecretValue"}},
		{"single policy name", refresh.Policies, []any{"AWSLambdaBasicExecutionRole"}},
		{"IgnoreGlobals *", legacy.Runtime + " " + legacy.Handler, "python3.12 app.handler"},
		{"IgnoreGlobals * drops env", legacy.Environment, map[string]any(nil)},
		{"CodeUri map", legacy.CodeURI, ""},
		{"http event", list.Events, []Event{{Name: "List", Type: "HttpApi", Method: "GET", Path: "/provider-credentials",
			Properties: map[string]any{"ApiId": ref("HttpApi"), "Method": "get", "Path": "/provider-credentials"}}}},
		{"http event path params", usage.Events[0].Path, "/provider-credentials/{credential_id}/usage"},
		{"schedule events sorted", []string{refresh.Events[0].Name, refresh.Events[1].Name}, []string{"Every5", "Nightly"}},
		{"schedule !Ref", refresh.Events[0].Schedule, ref("RefreshSchedule")},
		{"schedule !If kept", refresh.Events[0].Properties["Enabled"], Intrinsic{Fn: "Fn::If", Args: []any{"IsProd", true, false}}},
		{"ScheduleV2 expression", refresh.Events[1].Schedule, "cron(0 3 * * ? *)"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
	if _, ok := tpl.Function("GetUsageFunction"); !ok {
		t.Errorf("Function(GetUsageFunction): not found, want found")
	}
}

func TestResources(t *testing.T) {
	tpl := load(t)
	table := tpl.Resources["CredentialsTable"]
	api := tpl.Resources["HttpApi"]
	auth := mapOf(api.Properties["Auth"])
	jwt := mapOf(mapOf(mapOf(auth["Authorizers"])["OidcAuthorizer"])["JwtConfiguration"])
	checks := []struct {
		name      string
		got, want any
	}{
		{"table type", table.Type, "AWS::DynamoDB::Table"},
		{"billing mode", table.Properties["BillingMode"], "PAY_PER_REQUEST"},
		{"ttl", table.Properties["TimeToLiveSpecification"], map[string]any{"AttributeName": "expires_at", "Enabled": true}},
		{"api type", api.Type, "AWS::Serverless::HttpApi"},
		{"default authorizer", auth["DefaultAuthorizer"], "OidcAuthorizer"},
		{"jwt issuer", jwt["issuer"], Intrinsic{Fn: "Ref", Args: "JwtIssuer"}},
		{"jwt audience", jwt["audience"], []any{Intrinsic{Fn: "Ref", Args: "JwtAudience"}}},
		{"long-form GetAtt", mapOf(tpl.Outputs["TableArn"])["Value"], Intrinsic{Fn: "Fn::GetAtt", Args: []any{"CredentialsTable", "Arn"}}},
		{"tables", tpl.ResourcesOfType("AWS::DynamoDB::Table"), []string{"CredentialsTable"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tpl := load(t)
	refs := tpl.ParameterValues(map[string]string{"Stage": "prod", "AWS::Region": "eu-west-1"})
	tests := []struct {
		name    string
		in      any
		want    any
		wantErr bool
	}{
		{"ref default", Intrinsic{Fn: "Ref", Args: "RefreshSchedule"}, "rate(5 minutes)", false},
		{"ref numeric default", Intrinsic{Fn: "Ref", Args: "UsageCacheSeconds"}, "60", false},
		{"ref override", Intrinsic{Fn: "Ref", Args: "Stage"}, "prod", false},
		{"ref without default", Intrinsic{Fn: "Ref", Args: "JwtIssuer"}, nil, true},
		{"ref to a resource", Intrinsic{Fn: "Ref", Args: "CredentialsTable"}, nil, true},
		{"sub", Intrinsic{Fn: "Fn::Sub", Args: "a/${Stage}/${AWS::Region}"}, "a/prod/eu-west-1", false},
		{"sub literal", Intrinsic{Fn: "Fn::Sub", Args: "${!Stage}"}, "${Stage}", false},
		{"sub with variables", Intrinsic{Fn: "Fn::Sub", Args: []any{"${X}-${Stage}", map[string]any{"X": Intrinsic{Fn: "Ref", Args: "JwtAudience"}}}}, "provider-credentials-prod", false},
		{"sub unknown", Intrinsic{Fn: "Fn::Sub", Args: "${Nope}"}, nil, true},
		{"join", Intrinsic{Fn: "Fn::Join", Args: []any{",", []any{"a", Intrinsic{Fn: "Ref", Args: "Stage"}}}}, "a,prod", false},
		{"select split", Intrinsic{Fn: "Fn::Select", Args: []any{1, Intrinsic{Fn: "Fn::Split", Args: []any{"/", "x/y/z"}}}}, "y", false},
		{"if", Intrinsic{Fn: "Fn::If", Args: []any{"IsProd", "a", "b"}}, nil, true},
		{"nested", map[string]any{"k": []any{Intrinsic{Fn: "Ref", Args: "Stage"}, 1}}, map[string]any{"k": []any{"prod", 1}}, false},
		{"plain", "x", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.in, refs)
			if tt.wantErr {
				if !errors.Is(err, ErrUnresolved) {
					t.Fatalf("got %v, %v; want an error wrapping ErrUnresolved", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}

	t.Run("environment", func(t *testing.T) {
		f, _ := tpl.Function("GetUsageFunction")
		refs := tpl.ParameterValues(nil)
		refs["CredentialsTable"] = "local-credentials"
		refs["CredentialsTable.Arn"] = "arn:aws:dynamodb:us-east-1:123456789012:table/local-credentials"
		refs["AWS::Region"] = "us-east-1"
		env, err := f.ResolveEnvironment(refs)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"CREDENTIALS_TABLE": "local-credentials", "ORG_ID_CLAIM": "org_id", "USAGE_CACHE_SECONDS": "60",
			"STAGE": "local-override", "SECRET_PREFIX": "provider-credentials/dev/",
			"TABLE_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/local-credentials", "LITERAL": "${NotAVar}-us-east-1",
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("got %v, want %v", env, want)
		}
		delete(refs, "CredentialsTable")
		if _, err := f.ResolveEnvironment(refs); !errors.Is(err, ErrUnresolved) {
			t.Errorf("without a table name: got %v, want ErrUnresolved", err)
		}
	})
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"not a mapping", "- a\n- b\n"},
		{"bad yaml", "a: [b\n"},
		{"resource without type", "Resources:\n  X:\n    Properties: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.yaml)); err == nil {
				t.Errorf("Parse(%q): got no error, want one", tt.yaml)
			}
		})
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Errorf("Load(missing): got no error, want one")
	}
}

func TestShortAndLongForms(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  A:
    Type: X
    Properties:
      Short: !Join [",", [!Ref P, !GetAtt B.Arn, !Select [0, !GetAZs ""]]]
      Long: {"Fn::Join": [",", [{"Ref": "P"}]]}
      Base: &base {k: 1, j: 2}
      Merged:
        <<: *base
        j: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.Resources["A"].Properties
	checks := []struct {
		name      string
		got, want any
	}{
		{"short", p["Short"], Intrinsic{Fn: "Fn::Join", Args: []any{",", []any{
			Intrinsic{Fn: "Ref", Args: "P"},
			Intrinsic{Fn: "Fn::GetAtt", Args: []any{"B", "Arn"}},
			Intrinsic{Fn: "Fn::Select", Args: []any{0, Intrinsic{Fn: "Fn::GetAZs", Args: ""}}},
		}}}},
		{"long", p["Long"], Intrinsic{Fn: "Fn::Join", Args: []any{",", []any{Intrinsic{Fn: "Ref", Args: "P"}}}}},
		{"merge key", p["Merged"], map[string]any{"k": 1, "j": 3}},
	}
	fn := func(g, l string) map[string]any {
		tpl, err := Parse([]byte("Globals:\n  Function:\n" + g + "\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n" + l + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return tpl.Functions()[0].Properties
	}
	merges := []struct {
		name, globals, local string
		want                 map[string]any
	}{
		{"lists concatenate, globals first", "    Layers: [a]", "      Layers: [b]", map[string]any{"Layers": []any{"a", "b"}}},
		{"maps merge", "    Tags: {a: 1, b: 1}", "      Tags: {b: 2}", map[string]any{"Tags": map[string]any{"a": 1, "b": 2}}},
		{"scalars replaced", "    Timeout: 3", "      Timeout: 9", map[string]any{"Timeout": 9}},
		{"intrinsic replaces a map", "    Tags: {a: 1}", "      Tags: !Ref T", map[string]any{"Tags": Intrinsic{Fn: "Ref", Args: "T"}}},
	}
	for _, m := range merges {
		t.Run(m.name, func(t *testing.T) {
			if got := fn(m.globals, m.local); !reflect.DeepEqual(got, m.want) {
				t.Errorf("got %#v, want %#v", got, m.want)
			}
		})
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}
