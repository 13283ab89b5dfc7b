package refresh

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/acme/provider-credentials/shared/credentials"
)

// The probing side of a run: the worker pool that bounds probes in flight,
// and the tracker that turns finished work into the cursor to save.

type counters struct {
	probed, reachable, unreachable, cacheFailed, skipped atomic.Int64
}

type job struct {
	c   credentials.Credential
	seq uint64
}

// pool probes with at most cap(global) probes in flight, and at most per
// for one provider. Each provider has its own queue and workers, so a
// provider that hangs fills only its own queue and holds at most per of the
// global slots: the others keep going.
type pool struct {
	global  chan struct{}
	per     int
	backlog int
	queues  map[string]chan job // dispatcher goroutine only
	stop    context.Context
	run     func(job)
	skip    func(job)
	wg      sync.WaitGroup
}

// submit queues j; false when the run stopped while its provider's queue
// was full.
func (p *pool) submit(j job) bool {
	q, ok := p.queues[j.c.Provider]
	if !ok {
		q = make(chan job, p.backlog)
		p.queues[j.c.Provider] = q
		for range p.per {
			p.wg.Add(1)
			go p.worker(q)
		}
	}
	select {
	case q <- j:
		return true
	case <-p.stop.Done():
		return false
	}
}

func (p *pool) worker(q <-chan job) {
	defer p.wg.Done()
	for j := range q {
		select {
		case p.global <- struct{}{}:
		case <-p.stop.Done():
			p.skip(j)
			continue
		}
		if p.stop.Err() != nil { // both were ready: the stop wins
			<-p.global
			p.skip(j)
			continue
		}
		p.run(j)
		<-p.global
	}
}

func (p *pool) closeAndWait() {
	for _, q := range p.queues {
		close(q)
	}
	p.wg.Wait()
}

// tracker follows the scan positions handed out, in order, and which are
// done, to give the cursor: the last position before which everything was
// handled. It holds only the window between the oldest unfinished
// credential and the newest read, not the table.
type tracker struct {
	mu      sync.Mutex
	base    uint64 // sequence number of entries[0]
	entries []trackEntry
	last    string // position of the last entry of the done prefix
}

type trackEntry struct {
	pos  string
	done bool
}

func newTracker(from string) *tracker { return &tracker{last: from} }

func (t *tracker) add(pos string, done bool) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.base + uint64(len(t.entries))
	t.entries = append(t.entries, trackEntry{pos: pos, done: done})
	t.advance()
	return seq
}

func (t *tracker) done(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries[seq-t.base].done = true
	t.advance()
}

func (t *tracker) advance() {
	i := 0
	for i < len(t.entries) && t.entries[i].done {
		t.last = t.entries[i].pos
		i++
	}
	if i > 0 {
		clear(t.entries[:i]) // let the strings go
		t.entries = t.entries[i:]
		t.base += uint64(i)
	}
}

func (t *tracker) cursor() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}
