package refresh_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/usage"
)

// genSource is an in-memory table of n items, made page by page as they
// are read (so the fixture's memory does not grow with n). Item i is a
// credential of provider i%providers; every inactive-th one is inactive;
// those in deleted are gone (a scan resumes after a gone one's position).
type genSource struct {
	n, pageSize, providers, inactiveEvery int
	deleted                               map[int]bool
}

func (g genSource) item(i int) refresh.ScanItem {
	c := credentials.Credential{
		ID: fmt.Sprintf("cred-%06d", i), OrgID: "org-" + strconv.Itoa(i%97),
		Provider: "provider-" + strconv.Itoa(i%g.providers), Active: true, HasAPIKey: true,
	}
	if g.inactiveEvery > 0 && i%g.inactiveEvery == 0 {
		c.Active = false
	}
	return refresh.ScanItem{Pos: strconv.Itoa(i), Credential: &c}
}

func (g genSource) Page(_ context.Context, _ refresh.Segment, after string) (refresh.ScanPage, error) {
	start := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return refresh.ScanPage{}, err
		}
		start = n + 1
	}
	end := min(start+g.pageSize, g.n)
	page := refresh.ScanPage{Items: make([]refresh.ScanItem, 0, end-start)}
	for i := start; i < end; i++ {
		if !g.deleted[i] {
			page.Items = append(page.Items, g.item(i))
		}
	}
	if end < g.n {
		page.Next = strconv.Itoa(end - 1)
	}
	return page, nil
}

// memCursors keeps cursors, and their leases, in memory.
type memCursors struct {
	mu     sync.Mutex
	m      map[string]string
	leases map[string]memLease
}

type memLease struct {
	owner string
	until time.Time
}

func (c *memCursors) AcquireCursor(_ context.Context, seg, total int, owner string, now, until time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := fmt.Sprint(seg, "/", total)
	if l, ok := c.leases[k]; ok && !l.until.Before(now) {
		return "", refresh.ErrLeaseHeld
	}
	if c.leases == nil {
		c.leases = map[string]memLease{}
	}
	c.leases[k] = memLease{owner: owner, until: until}
	return c.m[k], nil
}

func (c *memCursors) SaveCursor(_ context.Context, seg, total int, owner, pos, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := fmt.Sprint(seg, "/", total)
	if c.leases[k].owner != owner {
		return refresh.ErrLeaseLost
	}
	delete(c.leases, k)
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[k] = pos
	return nil
}

// set stores a position as a finished run would have.
func (c *memCursors) set(seg, total int, pos string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[fmt.Sprint(seg, "/", total)] = pos
}

func (c *memCursors) get(seg, total int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[fmt.Sprint(seg, "/", total)]
}

// sleepRefresher answers after delay (per provider, else def), or when
// ctx ends; it records the credentials refreshed, in order of start.
type sleepRefresher struct {
	def   time.Duration
	delay map[string]time.Duration
	// record: keep the ids seen (tests only; the benchmark leaves it off)
	record bool

	mu      sync.Mutex
	started []string
	done    map[string]time.Duration // id → time from start to done
	t0      time.Time
}

func (s *sleepRefresher) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	if s.record {
		s.mu.Lock()
		s.started = append(s.started, c.ID)
		s.mu.Unlock()
	}
	d := s.def
	if v, ok := s.delay[c.Provider]; ok {
		d = v
	}
	t := time.NewTimer(d)
	defer t.Stop()
	res := usage.Result{Provider: c.Provider, AccountKey: c.AccountKey, CheckedAt: time.Now()}
	select {
	case <-t.C:
		res.Reachable = true
	case <-ctx.Done():
	}
	if s.record {
		s.mu.Lock()
		if s.done == nil {
			s.done = map[string]time.Duration{}
		}
		s.done[c.ID] = time.Since(s.t0)
		s.mu.Unlock()
	}
	return res, nil
}

func (s *sleepRefresher) startedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.started...)
}
