package awstest

import (
	"context"
	"fmt"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Calls records every AWS operation made through an Env's clients, and can
// fail one of them on purpose.
type Calls struct {
	mu       sync.Mutex
	ops      []string
	failAt   int       // 1-based index of the call to fail; 0: none
	mode     faultMode // how
	injected int       // faults injected since the last Reset or plan
	err      error     // what a call failed before it is sent returns; nil: a *Fault
	outage   string    // service id whose every call fails before it is sent; "": none
	alsoAt   int       // 1-based index of a second call to fail before it is sent; 0: none
}

type faultMode int

const (
	beforeSend faultMode = iota // the call fails before it is sent
	loseAnswer                  // AWS carries it out; the SDK gets an error, too late to retry
	retryAfter                  // AWS carries it out; its first answer is lost and the SDK retries it
)

// retryable is the error of a lost first answer: the SDK retries it.
type retryable struct{ op string }

func (r *retryable) Error() string        { return "injected fault: first answer of " + r.op + " lost" }
func (r *retryable) RetryableError() bool { return true }

type retryKey struct{}

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
		if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awstest.Calls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				c.mu.Lock()
				c.ops = append(c.ops, op)
				fail, mode, ferr := c.failAt == len(c.ops), c.mode, c.err
				if c.outage != "" && c.outage == awsmiddleware.GetServiceID(ctx) || c.alsoAt == len(c.ops) {
					fail, mode = true, beforeSend
				}
				c.mu.Unlock()
				switch {
				case fail && mode == beforeSend:
					c.count()
					if ferr != nil {
						return middleware.InitializeOutput{}, middleware.Metadata{}, ferr
					}
					return middleware.InitializeOutput{}, middleware.Metadata{}, &Fault{Op: op}
				case fail && mode == retryAfter:
					ctx = context.WithValue(ctx, retryKey{}, new(bool))
				}
				out, md, err := next.HandleInitialize(ctx, in)
				if fail && mode == loseAnswer && err == nil {
					c.count()
					return middleware.InitializeOutput{}, md, &Fault{Op: op, AfterSend: true}
				}
				return out, md, err
			}), middleware.Before); err != nil {
			return err
		}
		// Inside the SDK's retry loop: one attempt, sent and answered.
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("awstest.LostAnswer",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if fired, ok := ctx.Value(retryKey{}).(*bool); ok && !*fired && err == nil {
					*fired = true
					c.count()
					return middleware.DeserializeOutput{}, md, &retryable{op: awsmiddleware.GetOperationName(ctx)}
				}
				return out, md, err
			}), middleware.Before)
	}
}

// Reset forgets the calls so far and any planned failure.
func (c *Calls) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.mode, c.injected, c.err, c.outage, c.alsoAt = nil, 0, beforeSend, 0, nil, "", 0
}

// AlsoFailAt makes the n-th call (counted as the planned fault's are)
// fail before it is sent too, on top of the fault planned last.
func (c *Calls) AlsoFailAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alsoAt = n
}

func (c *Calls) count() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.injected++
}

// Injected returns how many faults were injected since the last plan.
func (c *Calls) Injected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.injected
}

// FailAt makes the n-th call from now fail before it is sent (1-based).
func (c *Calls) FailAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.mode, c.injected, c.err, c.alsoAt = nil, n, beforeSend, 0, nil, 0
}

// FailAtWith makes the n-th call from now fail before it is sent with err
// (an AWS-shaped error such as Throttled or Unavailable), 1-based.
func (c *Calls) FailAtWith(n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.mode, c.injected, c.err, c.alsoAt = nil, n, beforeSend, 0, err, 0
}

// Outage makes every call to the service (its SDK service id: "DynamoDB",
// "Secrets Manager") fail before it is sent, with err (nil: a *Fault),
// until Reset.
func (c *Calls) Outage(service string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outage, c.err = service, err
}

// Throttled is the error AWS gives a throttled call.
func Throttled(op string) error {
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded (injected in " + op + ")", Fault: smithy.FaultServer}
}

// Unavailable is the error of a call AWS could not serve (HTTP 503).
func Unavailable(op string) error {
	return &smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "injected outage in " + op, Fault: smithy.FaultServer}
}

// LoseAnswerAt lets the n-th call from now go through, then fails it as if
// its answer had been lost on the way back, past the SDK's retries (1-based).
func (c *Calls) LoseAnswerAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.mode, c.injected, c.alsoAt = nil, n, loseAnswer, 0, 0
}

// RetryAfterSendAt lets the n-th call from now go through and loses its
// first answer with a retryable error, so the SDK sends it again: the
// retry meets the state the first attempt left (1-based).
func (c *Calls) RetryAfterSendAt(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops, c.failAt, c.mode, c.injected, c.alsoAt = nil, n, retryAfter, 0, 0
}

// Ops returns the operations made since the last Reset, as "Service.Operation".
func (c *Calls) Ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}

// String lists the operations, for failure messages.
func (c *Calls) String() string { return fmt.Sprint(c.Ops()) }
