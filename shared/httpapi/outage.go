package httpapi

import (
	"context"
	"errors"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// outageCodes are the AWS error codes of a dependency that cannot serve
// us now: throttling, and failures on AWS's side. The SDK has retried them
// already (8 attempts); the client may retry later.
var outageCodes = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "ThrottledException": true, "RequestThrottled": true,
	"RequestThrottledException": true, "TooManyRequestsException": true, "SlowDown": true,
	"ProvisionedThroughputExceededException": true, "RequestLimitExceeded": true,
	"TransactionConflictException": true, "TransactionInProgressException": true,
	"InternalServerError": true, "InternalServerException": true, "InternalServiceError": true,
	"InternalFailure": true, "ServiceUnavailable": true, "ServiceUnavailableException": true,
	"RequestTimeout": true, "RequestTimeoutException": true,
}

// transactionOutage are the cancellation reasons of a transaction that no
// condition of ours refused: concurrent transactions (after the store's
// own retries) or throttling.
var transactionOutage = map[string]bool{
	"TransactionConflict": true, "ThrottlingError": true, "ProvisionedThroughputExceeded": true,
}

// dependencyOutage reports whether err, an error no rule of ours gave a
// kind, is AWS being unavailable rather than a bug: a throttled call, a
// 5xx or server-side fault, a transaction cancelled only by conflicts or
// throttling, or an AWS call that ran out of
// time. Client input never leads here: what the input decides is checked
// before any AWS call.
func dependencyOutage(err error) bool {
	var tce *ddbtypes.TransactionCanceledException
	if errors.As(err, &tce) {
		outage := len(tce.CancellationReasons) > 0
		for _, r := range tce.CancellationReasons {
			if code := derefCode(r.Code); code != "" && code != "None" && !transactionOutage[code] {
				outage = false
			}
		}
		return outage
	}
	var api smithy.APIError
	if errors.As(err, &api) && (outageCodes[api.ErrorCode()] || api.ErrorFault() == smithy.FaultServer) {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return true
	}
	var timeout interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &timeout) && timeout.Timeout()
}

func derefCode(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
