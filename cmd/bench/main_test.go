package main

import "testing"

func TestParse(t *testing.T) {
	out := `goos: linux
BenchmarkHandler/get-2         	   13072	    100589 ns/op	   37613 B/op	     433 allocs/op
BenchmarkAWSCalls/test-2                  	       1	         0 calls	         0 target
    bench_test.go:95: calls test target=0 ops=
BenchmarkRefresh/n=1000/c=64-2 	       1	         0.9612 ideal-ratio
PASS`
	got := parse(out)
	if len(got) != 3 {
		t.Fatalf("parsed %d results, want 3: %+v", len(got), got)
	}
	if got[0].name != "Handler/get" || got[0].metrics["ns/op"] != 100589 || got[0].metrics["allocs/op"] != 433 {
		t.Errorf("handler = %+v", got[0])
	}
	if got[1].name != "AWSCalls/test" || got[1].metrics["calls"] != 0 {
		t.Errorf("calls = %+v", got[1])
	}
	if got[2].name != "Refresh/n=1000/c=64" || got[2].metrics["ideal-ratio"] != 0.9612 {
		t.Errorf("refresh = %+v", got[2])
	}
}
