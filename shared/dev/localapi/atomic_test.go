package localapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// These tests hold the emulator to DynamoDB's atomicity under concurrent
// requests (stock, threaded moto_server fails them: ../shared/TOOLCHAIN.md),
// and the write paths to their guarantees under a concurrent mixed load.

// prefill writes n unrelated items, so that the table is no longer tiny
// (threaded moto lost commits only once tables had a few hundred items).
func (h *harness) prefill(n int) {
	h.t.Helper()
	for i := 0; i < n; i += 25 {
		var reqs []ddbtypes.WriteRequest
		for j := i; j < min(i+25, n); j++ {
			reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("org-prefill-%d", j%7)},
				"sk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("FILL#%04d", j)},
			}}})
		}
		if _, err := h.env.DDB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]ddbtypes.WriteRequest{h.env.CredTable: reqs},
		}); err != nil {
			h.t.Fatalf("prefill: %v", err)
		}
	}
}

// rawItems scans the credentials table, every page.
func (h *harness) rawItems() []map[string]ddbtypes.AttributeValue {
	h.t.Helper()
	var items []map[string]ddbtypes.AttributeValue
	p := dynamodb.NewScanPaginator(h.env.DDB, &dynamodb.ScanInput{TableName: &h.env.CredTable, ConsistentRead: new(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			h.t.Fatalf("scan: %v", err)
		}
		items = append(items, page.Items...)
	}
	return items
}

func str(it map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := it[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// audit checks the credentials table as a whole: one credential per
// (organisation, provider, account key), each with its guard and each
// guard with its credential, and no lock left. It returns the credentials
// by id.
func (h *harness) audit() map[string]map[string]ddbtypes.AttributeValue {
	h.t.Helper()
	creds := map[string]map[string]ddbtypes.AttributeValue{}
	byKey := map[string][]string{}
	guards := map[string]string{} // org + sk → credential id
	for _, it := range h.rawItems() {
		switch str(it, "kind") {
		case "credential":
			id := str(it, "id")
			creds[id] = it
			k := str(it, "pk") + "#" + str(it, "provider") + "#" + str(it, "account_key")
			byKey[k] = append(byKey[k], id)
			if _, locked := it["key_lock"]; locked {
				h.t.Errorf("credential %s left locked", id)
			}
		case "guard":
			guards[str(it, "pk")+"#"+str(it, "sk")] = str(it, "credential_id")
		}
	}
	for k, ids := range byKey {
		if len(ids) > 1 {
			h.t.Errorf("%d credentials for %s: %v", len(ids), k, ids)
		}
	}
	for g, id := range guards {
		if _, ok := creds[id]; !ok {
			h.t.Errorf("guard %s names credential %s, which does not exist", g, id)
		}
	}
	for id, it := range creds {
		g := str(it, "pk") + "#UNIQ#" + str(it, "provider") + "#" + str(it, "account_key")
		if guards[g] != id {
			h.t.Errorf("credential %s has no guard (%s names %q)", id, g, guards[g])
		}
	}
	if err := h.consistency(); err != nil {
		h.t.Error(err)
	}
	return creds
}

// TestConcurrentIdenticalCreates races 20 identical creates, 30 rounds,
// against a table of 300 other items: each round stores exactly one
// credential, answers one 201 and nineteen 409s, and leaves no secret of
// the losers behind.
func TestConcurrentIdenticalCreates(t *testing.T) {
	h := newHarness(t)
	h.prefill(300)
	admin := h.token("org-race", "admin")
	const rounds, racers = 30, 20
	for round := range rounds {
		body := map[string]any{"provider": "openai", "account_key": fmt.Sprintf("acct-%d", round)}
		if round%10 == 0 { // some with a key: the losers' secrets must go
			body["api_key"] = testKey
		}
		statuses := make([]int, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() { statuses[i] = h.do("POST", "/provider-credentials", admin, body).status })
		}
		wg.Wait()
		created, conflicts := 0, 0
		for _, s := range statuses {
			switch s {
			case 201:
				created++
			case 409:
				conflicts++
			}
		}
		if created != 1 || conflicts != racers-1 {
			t.Fatalf("round %d: statuses %v; want one 201 and %d 409s", round, statuses, racers-1)
		}
	}
	creds := h.audit()
	if len(creds) != rounds {
		t.Errorf("%d credentials stored, want %d", len(creds), rounds)
	}
}

// TestConcurrentMixedLoad runs a bounded concurrent mix of creates
// (duplicates among them), key rotations and clears, renames, deletes and
// reads over a few accounts, then audits both stores: no duplicate, no
// guard without its credential or the reverse, no acknowledged create lost
// and no acknowledged delete undone, every stored key one a request set and
// was told it did, no lock left, no credential claiming a key it cannot
// read and no live secret unclaimed. No request may answer a 5xx.
func TestConcurrentMixedLoad(t *testing.T) {
	h := newHarness(t)
	h.prefill(300)
	admin := h.token("org-mix", "admin")
	const workers, opsPerWorker, accounts = 8, 40, 6

	var mu sync.Mutex
	created := map[string]bool{}         // acknowledged creates
	deleted := map[string]bool{}         // acknowledged deletes
	keys := map[string]map[string]bool{} // id → keys acknowledged as set ("" : cleared)
	ids := []string{}                    // every id created, for the others to work on
	ack := func(id, key string) {
		mu.Lock()
		defer mu.Unlock()
		if keys[id] == nil {
			keys[id] = map[string]bool{}
		}
		keys[id][key] = true
	}
	pick := func(r *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		if len(ids) == 0 {
			return "00000000-0000-4000-8000-000000000000"
		}
		return ids[r.IntN(len(ids))]
	}
	var fivexx []string
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for op := range opsPerWorker {
				var resp response
				var what string
				switch n := r.IntN(10); {
				case n < 3: // create, often a duplicate of another worker's
					key := fmt.Sprintf("sk-mix-%d-%d-key", w, op)
					body := map[string]any{"provider": "openai", "account_key": fmt.Sprintf("acct-%d", r.IntN(accounts))}
					if n < 2 {
						body["api_key"] = key
					} else {
						key = ""
					}
					what = "create"
					if resp = h.do("POST", "/provider-credentials", admin, body); resp.status == 201 {
						var c credential
						resp.json(t, &c)
						mu.Lock()
						created[c.ID], ids = true, append(ids, c.ID)
						mu.Unlock()
						ack(c.ID, key)
					}
				case n < 5: // rotate, or set a first key
					id, key := pick(r), fmt.Sprintf("sk-mix-%d-%d-rot", w, op)
					what = "rotate " + id
					if resp = h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": key}); resp.status == 200 {
						ack(id, key)
					}
				case n < 6: // clear the key
					id := pick(r)
					what = "clear " + id
					if resp = h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": ""}); resp.status == 200 {
						ack(id, "")
					}
				case n < 7: // rename
					id := pick(r)
					what = "rename " + id
					resp = h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"display_name": fmt.Sprintf("n-%d-%d", w, op)})
				case n < 8: // delete
					id := pick(r)
					what = "delete " + id
					if resp = h.do("DELETE", "/provider-credentials/"+id, admin, nil); resp.status == 204 {
						mu.Lock()
						deleted[id] = true
						mu.Unlock()
					}
				case n < 9:
					what = "list"
					resp = h.do("GET", "/provider-credentials", admin, nil)
				default:
					id := pick(r)
					what = "get " + id
					resp = h.do("GET", "/provider-credentials/"+id, admin, nil)
				}
				if resp.status >= 500 {
					mu.Lock()
					fivexx = append(fivexx, fmt.Sprintf("%s: %d %s", what, resp.status, resp.body))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(fivexx) > 0 {
		t.Errorf("%d requests answered 5xx, first: %s", len(fivexx), fivexx[0])
	}
	creds := h.audit()
	for id := range created {
		if _, ok := creds[id]; ok == deleted[id] {
			t.Errorf("credential %s: stored %v, but its delete acknowledged %v", id, ok, deleted[id])
		}
	}
	for id, it := range creds {
		if !created[id] {
			t.Errorf("credential %s stored, but no create of it was acknowledged", id)
			continue
		}
		key := ""
		if v, ok := it["has_api_key"].(*ddbtypes.AttributeValueMemberBOOL); ok && v.Value {
			key = h.storedKey("org-mix", id)
		}
		if !keys[id][key] {
			t.Errorf("credential %s holds a key no acknowledged request set", id)
		}
	}
	t.Logf("%d operations: %d creates acknowledged, %d deletes, %d credentials left", workers*opsPerWorker, len(created), len(deleted), len(creds))
}
