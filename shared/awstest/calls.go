package awstest

import (
	"context"
	"fmt"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Calls records every AWS operation made through an Env's clients, and can
// fail one of them on purpose.
type Calls struct {
	mu     sync.Mutex
	ops    []string
	failAt int  // 1-based index of the call to fail; 0: none
	lose   bool // fail it after AWS carried it out: the answer is lost
}

// Fault is the error an injected failure returns.
type Fault struct {
	Op        string
	AfterSend bool // AWS carried the call out; only its answer was lost
}

func (f *Fault) Error() string {
	if f.AfterSend {
		return "injected fault: answer of " + f.Op + " lost"
	}
	return "injected fault in " + f.Op
}

func (c *Calls) apiOptions() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awstest.Calls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				c.mu.Lock()
				c.ops = append(c.ops, op)
				fail, lose := c.failAt == len(c.ops), c.lose
				c.mu.Unlock()
				if fail && !lose {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &Fault{Op: op}
				}
				out, md, err := next.HandleInitialize(ctx, in)
				if fail && err == nil {
					return middleware.InitializeOutput{}, md, &Fault{Op: op, AfterSend: true}
				}
				return out, md, err
			}), middleware.Before)
	}
}

// Reset forgets the calls so far and any planned failure.
func (c *Calls) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.lose = nil, 0, false
}

// FailAt makes the n-th call from now fail before it is sent (1-based).
func (c *Calls) FailAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.lose = nil, n, false
}

// LoseAnswerAt lets the n-th call from now go through, then fails it as if
// its answer had been lost on the way back (1-based).
func (c *Calls) LoseAnswerAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.lose = nil, n, true
}

// Ops returns the operations made since the last Reset, as "Service.Operation".
func (c *Calls) Ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}

// String lists the operations, for failure messages.
func (c *Calls) String() string { return fmt.Sprint(c.Ops()) }
