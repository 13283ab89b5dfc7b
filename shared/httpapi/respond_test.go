package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/acme/provider-credentials/shared/credentials"
)

func reasons(codes ...string) error {
	var rs []ddbtypes.CancellationReason
	for _, c := range codes {
		rs = append(rs, ddbtypes.CancellationReason{Code: &c})
	}
	return &ddbtypes.TransactionCanceledException{CancellationReasons: rs}
}

func httpStatus(code int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("boom"),
	}}
}

type netTimeout struct{}

func (netTimeout) Error() string { return "i/o timeout" }
func (netTimeout) Timeout() bool { return true }

// TestErrorStatus maps outages to 503 with Retry-After, and keeps 500 for
// errors of ours and 4xx for the kinds the rules give.
func TestErrorStatus(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("dynamo: get credential x: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"throttled", wrap(&smithy.GenericAPIError{Code: "ThrottlingException"}), 503},
		{"provisioned throughput", wrap(&ddbtypes.ProvisionedThroughputExceededException{}), 503},
		{"request limit", wrap(&ddbtypes.RequestLimitExceeded{}), 503},
		{"dynamodb internal", wrap(&ddbtypes.InternalServerError{}), 503},
		{"secrets manager internal", wrap(&smtypes.InternalServiceError{}), 503},
		{"service unavailable", wrap(&smithy.GenericAPIError{Code: "ServiceUnavailable"}), 503},
		{"HTTP 502", wrap(httpStatus(502)), 503},
		{"deadline", wrap(context.DeadlineExceeded), 503},
		{"network timeout", wrap(netTimeout{}), 503},
		{"transaction conflict", wrap(reasons("TransactionConflict", "None")), 503},
		{"transaction throttled", wrap(reasons("None", "ThrottlingError")), 503},
		{"unavailable kind", &credentials.Error{Kind: credentials.Unavailable, Detail: "x"}, 503},
		{"bug", errors.New("nil map"), 500},
		{"validation refused by AWS", wrap(&smithy.GenericAPIError{Code: "ValidationException", Fault: smithy.FaultClient}), 500},
		{"HTTP 400", wrap(httpStatus(400)), 500},
		{"condition failed in a transaction", wrap(reasons("ConditionalCheckFailed", "TransactionConflict")), 500},
		{"cancelled by the client", wrap(context.Canceled), 500},
		{"conflict", credentials.Errorf(credentials.Conflict, "dup"), 409},
		{"not found", credentials.ErrNotFound(), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), rec, tc.err)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d", rec.Code, tc.want)
			}
			ra := rec.Header().Get("Retry-After")
			switch tc.want {
			case 503:
				if ra != retryAfter || rec.Body.String() != `{"detail":"`+credentials.StorageUnavailable+`"}` {
					t.Errorf("Retry-After %q, body %s", ra, rec.Body)
				}
			case 500:
				if ra != "" || rec.Body.String() != `{"detail":"internal error"}` {
					t.Errorf("Retry-After %q, body %s", ra, rec.Body)
				}
			}
		})
	}
}
