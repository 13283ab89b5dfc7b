// Package refresh keeps the usage cache fresh: on a schedule it pages
// through every active credential with a key (one scan segment per
// invocation), probes each with bounded concurrency, overall and per
// provider, writes the results to the cache, and stops taking work well
// before its deadline. A cursor stored per segment makes the next run start
// where this one stopped, so no credential starves; a run reads at most to
// the end of its segment (never round again), so it probes no credential
// twice, and a lease on the cursor keeps two runs of one segment from
// probing at once. It also sweeps secrets that no credential claims.
package refresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/usage"
)

// Segment is the part of the table one invocation scans.
type Segment struct {
	Index, Total int // 0 ≤ Index < Total
}

// Options tunes an Engine. Zero values take the defaults.
type Options struct {
	Concurrency int           // probes in flight at once; default 64
	PerProvider int           // probes in flight per provider; default 32
	Backlog     int           // credentials queued per provider; default 4 × PerProvider
	StopBefore  time.Duration // stop taking work this long before ctx's deadline; default 30 s
	ItemTimeout time.Duration // bound on one credential (key read, probe, cache write); default 20 s
	Now         func() time.Time
	Log         *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.PerProvider <= 0 {
		o.PerProvider = 32
	}
	if o.PerProvider > o.Concurrency {
		o.PerProvider = o.Concurrency
	}
	if o.Backlog <= 0 {
		o.Backlog = 4 * o.PerProvider
	}
	if o.StopBefore <= 0 {
		o.StopBefore = 30 * time.Second
	}
	if o.ItemTimeout <= 0 {
		o.ItemTimeout = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Engine runs one refresh of one segment.
type Engine struct {
	src     Source
	cursors Cursors
	ref     Refresher
	opts    Options
}

// NewEngine returns an Engine over its three ports.
func NewEngine(src Source, cursors Cursors, ref Refresher, opts Options) *Engine {
	return &Engine{src: src, cursors: cursors, ref: ref, opts: opts.withDefaults()}
}

// Stats are the figures of one run.
type Stats struct {
	Segment        Segment
	Seen           int // credential items read
	Ineligible     int // inactive or keyless: not probed
	Invalid        int // credential items that did not decode
	Probed         int // probes made (reachable + unreachable)
	Reachable      int
	Unreachable    int
	CacheFailed    int // probed, but the result could not be cached
	SkippedForTime int // eligible credentials read but not probed: the run stopped first
	StoppedForTime bool
	ReachedEnd     bool // the run read to the segment's end and handled all it read: the next run starts the segment over
	Skipped        bool // another run held the segment's lease: this one did nothing
	// Reprobed: credentials probed again because the sweep alongside
	// restored their secret after their probe could not read the key (the
	// second result is the one cached, and the one counted).
	Reprobed int
	Duration time.Duration
}

// noDeadlineLease is how long a run without a deadline (tests, local
// runs) holds its segment: Lambda's longest timeout.
const noDeadlineLease = 15 * time.Minute

// Run refreshes the segment from its stored cursor to the segment's end,
// or until it is StopBefore from ctx's deadline (no deadline: to the end).
// It never goes round again from the segment's start, so no credential is
// probed twice in a run. In-flight probes finish; the cursor is saved at
// the last position before which every credential was handled ("" once
// the end is reached), so whatever this run did not reach goes first next
// run. The run first takes the segment's lease with the cursor read (until
// ctx's deadline) and gives it back with the save; when another run holds
// it, Run does nothing and returns Stats with Skipped set. It returns an
// error only when the lease could not be asked for or the scan itself
// failed; the figures are valid either way.
func (e *Engine) Run(ctx context.Context, seg Segment) (Stats, error) {
	return e.RunWith(ctx, seg, nil)
}

// RunWith is Run, with alongside (when not nil) run in parallel while the
// lease is held, with a context that ends when probing stops taking work;
// the lease is given back only after alongside returns.
func (e *Engine) RunWith(ctx context.Context, seg Segment, alongside func(context.Context)) (Stats, error) {
	var side func(context.Context) []string
	if alongside != nil {
		side = func(c context.Context) []string { alongside(c); return nil }
	}
	return e.run(ctx, seg, side)
}

// run is RunWith with an alongside that returns the names of the secrets
// it restored (the sweep): a credential whose probe in this run could not
// read its key from one of them is probed again once alongside is done,
// so that the run never caches a key-read failure its own sweep caused.
func (e *Engine) run(ctx context.Context, seg Segment, alongside func(context.Context) []string) (Stats, error) {
	o := e.opts
	began := o.Now()
	st := Stats{Segment: seg}
	stopCtx, cancel := context.WithCancel(ctx)
	until := began.Add(noDeadlineLease)
	if dl, ok := ctx.Deadline(); ok {
		stopCtx, cancel = context.WithDeadline(ctx, dl.Add(-o.StopBefore))
		until = dl
	}
	defer cancel()

	owner := newOwner()
	from, err := e.cursors.AcquireCursor(stopCtx, seg.Index, seg.Total, owner, began, until)
	if errors.Is(err, ErrLeaseHeld) {
		o.Log.InfoContext(ctx, "refresh: segment leased by another run; skipping this run", "segment", seg.Index)
		st.Skipped = true
		st.Duration = o.Now().Sub(began)
		return st, nil
	}
	if err != nil {
		st.Duration = o.Now().Sub(began)
		return st, fmt.Errorf("refresh: segment %d not leased, nothing probed: %w", seg.Index, err)
	}
	var side sync.WaitGroup
	var restored []string
	if alongside != nil {
		side.Go(func() { restored = alongside(stopCtx) })
	}
	tr := newTracker(from)
	var n counters
	un := &unreadKeys{bySecret: map[string][]credentials.Credential{}}
	p := e.newPool(ctx, stopCtx, tr, &n, un)
	scanErr := e.dispatch(ctx, stopCtx, seg, from, tr, p, &st, &n)
	p.closeAndWait()
	side.Wait()
	st.Reprobed = e.reprobe(ctx, restored, un.bySecret, &n)
	st.Probed, st.Reachable, st.Unreachable = int(n.probed.Load()), int(n.reachable.Load()), int(n.unreachable.Load())
	st.CacheFailed, st.SkippedForTime = int(n.cacheFailed.Load()), int(n.skipped.Load())
	st.ReachedEnd = st.ReachedEnd && st.SkippedForTime == 0
	st.StoppedForTime = !st.ReachedEnd && scanErr == nil

	e.saveCursor(ctx, seg, owner, tr.cursor(), until)
	st.Duration = o.Now().Sub(began)
	return st, scanErr
}

// unreadKeys are the credentials of a run whose probe could not read the
// key, by secret name.
type unreadKeys struct {
	mu       sync.Mutex
	bySecret map[string][]credentials.Credential
}

func (u *unreadKeys) add(c credentials.Credential) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bySecret[c.SecretName] = append(u.bySecret[c.SecretName], c)
}

// newPool returns the run's pool: each job is refreshed within ctx (not
// stopCtx: in-flight work finishes), counted in n and marked done in tr; a
// probe that could not read its key is noted in un.
func (e *Engine) newPool(ctx, stopCtx context.Context, tr *tracker, n *counters, un *unreadKeys) *pool {
	o := e.opts
	return &pool{
		global: make(chan struct{}, o.Concurrency), per: o.PerProvider, backlog: o.Backlog,
		queues: map[string]chan job{}, stop: stopCtx,
		run: func(j job) {
			ictx, icancel := context.WithTimeout(ctx, o.ItemTimeout) // ctx, not stopCtx: in-flight work finishes
			res, err := e.ref.Refresh(ictx, j.c)
			icancel()
			if keyUnread(res) {
				un.add(j.c)
			}
			n.probed.Add(1)
			if res.Reachable {
				n.reachable.Add(1)
			} else {
				n.unreachable.Add(1)
			}
			if err != nil {
				n.cacheFailed.Add(1)
				o.Log.WarnContext(ctx, "refresh: result not cached", "org", j.c.OrgID, "credential", j.c.ID, "err", err)
			}
			tr.done(j.seq)
		},
		skip: func(job) { n.skipped.Add(1) },
	}
}

// dispatch reads the segment from position from, page by page, and hands
// each eligible credential to p, until the segment's end or stopCtx ends.
// It counts what it read in st (ReachedEnd included) and what it could not
// hand out in n.skipped; the error is the scan's.
func (e *Engine) dispatch(ctx, stopCtx context.Context, seg Segment, from string, tr *tracker, p *pool, st *Stats, n *counters) error {
	pos := from
	for {
		if stopCtx.Err() != nil {
			return nil
		}
		page, err := e.page(stopCtx, seg, pos)
		if err != nil {
			if stopCtx.Err() == nil {
				return err
			}
			return nil
		}
		for i, it := range page.Items {
			if it.Credential != nil {
				st.Seen++
			} else if it.Err != nil {
				st.Seen++
				st.Invalid++
				e.opts.Log.WarnContext(ctx, "refresh: credential item not readable", "err", it.Err)
			}
			eligible := it.Credential != nil && it.Credential.Active && it.Credential.HasAPIKey
			if it.Credential != nil && !eligible {
				st.Ineligible++
			}
			if eligible && stopCtx.Err() != nil {
				n.skipped.Add(int64(1 + countEligible(page.Items[i+1:])))
				return nil
			}
			seq := tr.add(it.Pos, !eligible)
			if eligible && !p.submit(job{c: *it.Credential, seq: seq}) {
				n.skipped.Add(int64(1 + countEligible(page.Items[i+1:])))
				return nil
			}
		}
		if page.Next == "" {
			// The end of the segment: the next run starts it over. No
			// wrapping round within a run: where a run began cannot be
			// told by position (the item there may be gone, and scan order
			// is hash order), so going round could probe a credential twice.
			tr.add("", true)
			st.ReachedEnd = true
			return nil
		}
		pos = page.Next
	}
}

// saveCursor stores the segment's position and so gives the lease back,
// with the invocation's context, not the stopped one: the margin before
// the deadline is there for this.
func (e *Engine) saveCursor(ctx context.Context, seg Segment, owner, pos string, until time.Time) {
	o := e.opts
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	if err := e.cursors.SaveCursor(sctx, seg.Index, seg.Total, owner, pos, credentials.FormatTime(o.Now())); errors.Is(err, ErrLeaseLost) {
		o.Log.ErrorContext(ctx, "refresh: lease lost before the cursor was saved; the run that holds it keeps its own cursor", "segment", seg.Index)
	} else if err != nil {
		o.Log.ErrorContext(ctx, "refresh: cursor not saved; the next run repeats this one's work once the lease ends", "segment", seg.Index, "until", until, "err", err)
	}
}

func keyUnread(res usage.Result) bool {
	return !res.Reachable && res.Error != nil && *res.Error == liveusage.KeyUnreadable
}

// reprobe probes again, in parallel, the credentials whose key could not
// be read from a secret the sweep restored since (at most its restore cap),
// replacing their first result in the figures and the cache.
func (e *Engine) reprobe(ctx context.Context, restored []string, unread map[string][]credentials.Credential, n *counters) int {
	var wg sync.WaitGroup
	var count atomic.Int64
	for _, name := range restored {
		for _, c := range unread[name] {
			wg.Go(func() {
				ictx, cancel := context.WithTimeout(ctx, e.opts.ItemTimeout)
				defer cancel()
				res, err := e.ref.Refresh(ictx, c)
				count.Add(1)
				if res.Reachable { // the first probe counted as unreachable
					n.unreachable.Add(-1)
					n.reachable.Add(1)
				}
				if err != nil {
					e.opts.Log.WarnContext(ctx, "refresh: result not cached", "org", c.OrgID, "credential", c.ID, "err", err)
				}
			})
		}
	}
	wg.Wait()
	return int(count.Load())
}

// page reads a page, retrying a few times past the SDK's own retries (a
// throttled scan should delay the run, not end it).
func (e *Engine) page(ctx context.Context, seg Segment, after string) (ScanPage, error) {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(500<<(attempt-1)) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ScanPage{}, errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		var page ScanPage
		if page, err = e.src.Page(ctx, seg, after); err == nil {
			return page, nil
		}
		if ctx.Err() != nil {
			return ScanPage{}, err
		}
		e.opts.Log.WarnContext(ctx, "refresh: scan page failed; retrying", "segment", seg.Index, "attempt", attempt+1, "err", err)
	}
	return ScanPage{}, err
}

// newOwner names one run in its segment's lease.
func newOwner() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func countEligible(items []ScanItem) int {
	n := 0
	for _, it := range items {
		if it.Credential != nil && it.Credential.Active && it.Credential.HasAPIKey {
			n++
		}
	}
	return n
}
