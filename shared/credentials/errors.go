package credentials

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the HTTP layer. The zero value is Internal.
type Kind int

const (
	Internal     Kind = iota // a fault of ours or of AWS: 500, details logged, never shown
	Invalid                  // the request is malformed or breaks a rule: 422
	NotFound                 // missing, or another organisation's: 404
	Conflict                 // duplicate, or changed concurrently: 409
	Forbidden                // authenticated but not allowed: 403
	Unauthorized             // no usable identity: 401
	TooLarge                 // body over the limit: 413
	// Unavailable: a dependency outage, neither the client's fault nor a
	// bug of ours (AWS throttling, an AWS service unavailable or failing
	// on its side, an AWS call out of time): 503 with Retry-After.
	Unavailable
)

// StorageUnavailable is the detail of a 503.
const StorageUnavailable = "The credential storage is unavailable; retry shortly."

// FieldError is one entry of a FastAPI-style validation error list.
type FieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// Error carries a Kind and a detail that is safe to show a user. Err, when
// set, is the underlying cause: logged, never shown.
type Error struct {
	Kind   Kind
	Detail any // string or []FieldError
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprint(e.Detail)
	if list, ok := e.Detail.([]FieldError); ok && len(list) > 0 {
		msg = list[0].Msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of kind k whose detail is the formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// ErrNotFound is the detail FastAPI gives a 404.
func ErrNotFound() *Error { return &Error{Kind: NotFound, Detail: "Not Found"} }

// KindOf returns the Kind of err: the Kind of the first *Error in its chain,
// Internal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// IsKind reports whether err is of kind k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }
