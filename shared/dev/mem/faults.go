// Package mem holds in-memory implementations of the ports the service's
// packages declare (credentials.Store and KeyStore, liveusage.Store and
// Keys, the refresh's Source, Cursors, ClaimChecker, SecretLister and
// SecretDeleter), for tests that are about the rules, not about AWS. They
// follow the adapters' documented semantics (shared/dynamo, shared/secrets;
// a contract test runs the same cases against both), and any call can be
// made to fail, before it applies or after (its answer lost), as the moto
// fault harness in shared/dev/awstest does.
package mem

import (
	"fmt"
	"sync"
)

// Mode is how an injected fault fails a call.
type Mode int

const (
	// Pass lets the call run normally.
	Pass Mode = iota
	// Before fails the call before it changes anything.
	Before
	// AnswerLost carries the call out, then fails it as if its answer had
	// been lost on the way back.
	AnswerLost
)

// Fault is the error an injected failure returns.
type Fault struct {
	Op      string
	Applied bool // the call was carried out; only its answer was lost
}

func (f *Fault) Error() string {
	if f.Applied {
		return "injected fault: answer of " + f.Op + " lost"
	}
	return "injected fault in " + f.Op
}

// Faults records the calls made to the stores that share it and decides
// which fail. Share one between a Store and a KeyStore to number their
// calls together. The zero value fails nothing.
type Faults struct {
	// Hook, when set, is asked about every call (by operation name, such
	// as "Store.Create" or "KeyStore.Put") after any planned fault.
	Hook func(op string) Mode

	mu       sync.Mutex
	ops      []string
	failAt   int // 1-based index, in ops since the plan, of the call to fail
	mode     Mode
	injected int
}

// FailAt makes the n-th call from now (1-based) fail as mode says; it
// forgets the calls so far.
func (f *Faults) FailAt(n int, mode Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops, f.failAt, f.mode, f.injected = nil, n, mode, 0
}

// Reset forgets the calls so far and any planned fault.
func (f *Faults) Reset() { f.FailAt(0, Pass) }

// Ops returns the operations called since the last plan.
func (f *Faults) Ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...)
}

// Injected returns how many faults were injected since the last plan.
func (f *Faults) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// String lists the operations, for failure messages.
func (f *Faults) String() string { return fmt.Sprint(f.Ops()) }

// call records op and returns how it is to fail.
func (f *Faults) call(op string) Mode {
	if f == nil {
		return Pass
	}
	f.mu.Lock()
	f.ops = append(f.ops, op)
	m := Pass
	if f.failAt == len(f.ops) {
		m = f.mode
	}
	hook := f.Hook
	f.mu.Unlock()
	if m == Pass && hook != nil {
		m = hook(op)
	}
	if m != Pass {
		f.mu.Lock()
		f.injected++
		f.mu.Unlock()
	}
	return m
}

// do runs apply under the fault plan for op. apply returns the call's own
// error; a fault after it replaces a success.
func (f *Faults) do(op string, apply func() error) error {
	switch f.call(op) {
	case Before:
		return &Fault{Op: op}
	case AnswerLost:
		if err := apply(); err != nil {
			return err
		}
		return &Fault{Op: op, Applied: true}
	}
	return apply()
}
