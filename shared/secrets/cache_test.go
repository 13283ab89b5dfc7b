package secrets

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestKeyCacheStaysBoundedAndHits(t *testing.T) {
	api := &countingAPI{}
	store, err := New(api, "provider-credentials", 7)
	if err != nil {
		t.Fatal(err)
	}
	const max = 100
	c := NewKeyCache(store, time.Hour, max)
	ctx := context.Background()
	for i := range 3 * max {
		if _, err := c.Key(ctx, fmt.Sprint("s", i), "v"); err != nil {
			t.Fatal(err)
		}
		if n := len(c.entries); n > max {
			t.Fatalf("after %d keys the cache holds %d, more than its %d", i+1, n, max)
		}
	}
	if got := api.gets.Load(); got != 3*max {
		t.Fatalf("%d reads for %d distinct keys", got, 3*max)
	}
	if _, err := c.Key(ctx, fmt.Sprint("s", 3*max-1), "v"); err != nil {
		t.Fatal(err)
	}
	if got := api.gets.Load(); got != 3*max {
		t.Errorf("the last key read was read again (%d reads): not kept", got)
	}
	// Expired entries go first, and are read again.
	c.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := c.Key(ctx, fmt.Sprint("s", 3*max-1), "v"); err != nil {
		t.Fatal(err)
	}
	if got := api.gets.Load(); got != 3*max+1 {
		t.Errorf("an expired key was served from the cache (%d reads)", got)
	}
}
