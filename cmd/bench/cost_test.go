package main

import (
	"math"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/dev/bench"
)

func TestItemSizeAsDynamoDBBillsIt(t *testing.T) {
	it := map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "org-1"},                                                                               // 2 + 5
		"n":  &ddbtypes.AttributeValueMemberN{Value: "1234"},                                                                                // 1 + 3
		"ok": &ddbtypes.AttributeValueMemberBOOL{Value: true},                                                                               // 2 + 1
		"m":  &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"a": &ddbtypes.AttributeValueMemberS{Value: "xy"}}}, // 1 + 3 + (1+2+1)
	}
	if got, want := bench.ItemSize(it), 7+4+3+8; got != want {
		t.Errorf("ItemSize = %d, want %d", got, want)
	}
}

func TestCredentialMonthAddsUp(t *testing.T) {
	in := bench.CostInputs{CredentialItem: 459, GuardItem: 90, UsageItem: 1096, CursorItem: 77, PutItemPerProbe: 1, CursorPerRun: 2, LogBytesPerRun: 1278}
	s := bench.Schedule{RunsPerMonth: 8640, Segments: 4, MemoryGB: 1, Credentials: 100000, KeyReadsPerDay: 16, SecondsPerProbe: 0.0056, ChangesPerMonth: 1, PlatformLogBytes: 377}
	lines := bench.CredentialMonth(in, s)
	byWhat := map[string]bench.CostLine{}
	for _, l := range lines {
		byWhat[l.What] = l
	}
	// 8640 probes × 2 WRU (1096 B rounds up to 2 KB) at $0.625 per million.
	if got := byWhat["DynamoDB usage cache writes (refresh)"].Dollars; math.Abs(got-8640*2*0.625e-6) > 1e-12 {
		t.Errorf("usage writes $%v, want $%v", got, 8640*2*0.625e-6)
	}
	// 16 reads a day × 30 at $0.05 per 10,000.
	if got := byWhat["Secrets Manager key reads"].Dollars; math.Abs(got-480*0.05/1e4) > 1e-12 {
		t.Errorf("key reads $%v", got)
	}
	total := bench.Total(lines)
	if total < bench.Prices.SecretMonth || total > 1 {
		t.Errorf("total $%v: want the secret plus a little", total)
	}
	more := s
	more.KeyReadsPerDay = 288
	if d := bench.Total(bench.CredentialMonth(in, more)) - total; math.Abs(d-(288-16)*30*0.05/1e4) > 1e-9 {
		t.Errorf("272 more reads a day add $%v, want $%v", d, (288-16)*30*0.05/1e4)
	}
}

func TestRequestMillionCountsEachCall(t *testing.T) {
	in := bench.CostInputs{CredentialItem: 459, GuardItem: 90, UsageItem: 1096}
	lines := bench.RequestMillion("create-key", []string{"Secrets Manager.CreateSecret", "DynamoDB.TransactWriteItems"}, 160_000, 5, 0.25, in, 0, 0)
	got := map[string]float64{}
	for _, l := range lines {
		got[l.What] = l.Dollars
	}
	if want := 1e6 * 0.05 / 1e4; math.Abs(got["Secrets Manager calls"]-want) > 1e-9 {
		t.Errorf("Secrets Manager $%v, want $%v", got["Secrets Manager calls"], want)
	}
	// A transaction bills twice: 2 × (1 WRU item + 1 WRU guard) a request.
	if want := 4 * 0.625; math.Abs(got["DynamoDB writes"]-want) > 1e-9 {
		t.Errorf("writes $%v, want $%v", got["DynamoDB writes"], want)
	}
	// 0.16 ms + 2 × 5 ms, billed as 11 ms of 0.25 GB.
	if want := 1e6 * 0.011 * 0.25 * 0.0000133334; math.Abs(got["Lambda duration"]-want) > 1e-9 {
		t.Errorf("duration $%v, want $%v", got["Lambda duration"], want)
	}
}
