package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/acme/provider-credentials/shared/app"
)

// Calls counts the AWS operations made through the clients it is installed
// in, with an SDK middleware: one entry per operation the code asked for,
// whatever the SDK does underneath (so a retry is not a second call).
type Calls struct {
	mu  sync.Mutex
	ops []string
}

// APIOption is the middleware to pass to config.WithAPIOptions.
func (c *Calls) APIOption() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("bench.Calls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				c.mu.Lock()
				c.ops = append(c.ops, op)
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// Reset forgets the calls so far.
func (c *Calls) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops = nil
}

// Ops returns the operations since the last Reset, as "Service.Operation".
func (c *Calls) Ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}

// Response is one recorded HTTP answer of an AWS API.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Responses maps an operation, as its X-Amz-Target header names it
// ("DynamoDB_20120810.GetItem", "secretsmanager.CreateSecret"), to its answer.
type Responses map[string]Response

// target is the operation of a DynamoDB or Secrets Manager request: both
// speak AWS JSON, which names the operation in a header.
func target(r *http.Request) string { return r.Header.Get("X-Amz-Target") }

// Recorder is an HTTP client for the SDK that forwards to a real endpoint
// and, between Start and Stop, keeps the last answer to each operation.
type Recorder struct {
	Client *http.Client
	mu     sync.Mutex
	on     bool
	got    Responses
}

// Start begins recording.
func (r *Recorder) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on, r.got = true, Responses{}
}

// Stop ends recording and returns what was recorded.
func (r *Recorder) Stop() Responses {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.on, r.got = false, nil
	return got
}

// Do implements aws.HTTPClient.
func (r *Recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	on := r.on
	r.mu.Unlock()
	if !on {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	if r.got != nil {
		r.got[target(req)] = Response{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body}
	}
	r.mu.Unlock()
	return resp, nil
}

// Replay is an http.RoundTripper that answers every AWS request from
// recorded responses, in process: no emulator, no socket.
type Replay struct{ Responses Responses }

// RoundTrip implements http.RoundTripper.
func (p Replay) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	r, ok := p.Responses[target(req)]
	if !ok {
		return nil, fmt.Errorf("bench: no recorded response to %q", target(req))
	}
	return &http.Response{
		Status: http.StatusText(r.Status), StatusCode: r.Status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: r.Header.Clone(), Body: io.NopCloser(bytes.NewReader(r.Body)), ContentLength: int64(len(r.Body)),
		Request: req,
	}, nil
}

// ClientOptions say how to build the SDK clients of a measurement.
type ClientOptions struct {
	Endpoint string         // AWS_ENDPOINT_URL-like base endpoint; "" for AWS's own
	HTTP     aws.HTTPClient // nil: the SDK's default
	Calls    *Calls         // nil: not counted
	NoRetry  bool
}

// NewClients builds DynamoDB and Secrets Manager clients as a function does
// at cold start (region us-east-1, static dummy credentials: nothing checks
// them), with the options' endpoint, HTTP client and call counter.
func NewClients(ctx context.Context, o ClientOptions) (app.Clients, *dynamodb.Client, *secretsmanager.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("bench", "bench", "")),
	}
	if o.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(o.Endpoint))
	}
	if o.Calls != nil {
		opts = append(opts, config.WithAPIOptions([]func(*middleware.Stack) error{o.Calls.APIOption()}))
	}
	if o.NoRetry {
		opts = append(opts, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return app.Clients{}, nil, nil, fmt.Errorf("bench: AWS configuration: %w", err)
	}
	// The HTTP client goes on the clients, not the config: LoadDefaultConfig
	// wants to add AWS_CA_BUNDLE to it, which only the SDK's own client allows.
	db := dynamodb.NewFromConfig(cfg, func(d *dynamodb.Options) {
		if o.HTTP != nil {
			d.HTTPClient = o.HTTP
		}
	})
	sm := secretsmanager.NewFromConfig(cfg, func(s *secretsmanager.Options) {
		if o.HTTP != nil {
			s.HTTPClient = o.HTTP
		}
	})
	return app.Clients{DynamoDB: db, SecretsManager: sm}, db, sm, nil
}
