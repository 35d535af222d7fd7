package timers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// ErrSDK is matched by every error this package returns, whatever its type:
// errors.Is(err, timers.ErrSDK) tells an SDK error from one of the caller's.
// A call stopped by the cancellation of its context returns an error that
// matches both ErrSDK and context.Canceled.
var ErrSDK = errors.New("timers")

// ErrorCode is the machine-readable code of an error answer of the service.
type ErrorCode string

// The codes of the contract. A code the SDK does not know (a newer server, a
// proxy in between) is kept as it came.
const (
	CodeInvalidArgument    ErrorCode = "invalid_argument"
	CodeUnauthenticated    ErrorCode = "unauthenticated"
	CodePermissionDenied   ErrorCode = "permission_denied"
	CodeNotFound           ErrorCode = "not_found"
	CodeAlreadyExists      ErrorCode = "already_exists"
	CodePreconditionFailed ErrorCode = "precondition_failed"
	CodePayloadTooLarge    ErrorCode = "payload_too_large"
	CodeUnavailable        ErrorCode = "unavailable"
	CodeInternal           ErrorCode = "internal"
	// CodeUnknown is given to an error answer that carries no code and whose
	// HTTP status maps to none of the codes above.
	CodeUnknown ErrorCode = "unknown"
)

// Error is an error answer of the service: an HTTP status of 300 or more,
// with the body {"error": {"code", "message", "details"}} when the service
// itself answered.
type Error struct {
	// StatusCode is the HTTP status of the answer (for an item of a batch,
	// the item's status).
	StatusCode int
	// Code is the error's code; see the Code constants.
	Code ErrorCode
	// Message is the service's explanation, for people.
	Message string
	// Details is error.details as decoded JSON; empty when there is none.
	Details map[string]any
	// Fields lists each bad field of an invalid_argument error.
	Fields []FieldViolation
	// Existing is the stored timer of an already_exists error, when the
	// answer carries it under details.existing.
	Existing *Timer
	// RetryAfter is the wait the service asked for with Retry-After (on a
	// 503, say); zero when it asked for none.
	RetryAfter time.Duration
}

// FieldViolation names one bad field of a request and says what is wrong.
type FieldViolation struct {
	// Field is a dotted path such as "callback.timeout_seconds".
	Field  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("timers: %s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
}

// Is makes every *Error match ErrSDK.
func (e *Error) Is(target error) bool { return target == ErrSDK }

// IsError reports whether err is, or wraps, an *Error of the service whose
// code is one of codes; with no codes, whether it is any error answer.
func IsError(err error, codes ...ErrorCode) bool {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		return false
	}

	return len(codes) == 0 || slices.Contains(codes, apiErr.Code)
}

// ConnectionError means that no answer came from the service: the connection
// was refused, reset or closed before a complete answer was read. Calls that
// are safe to repeat are retried before it is returned.
type ConnectionError struct {
	Method string
	URL    string
	Err    error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("timers: %s %s: connection failed: %v", e.Method, e.URL, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// Is makes every *ConnectionError match ErrSDK.
func (e *ConnectionError) Is(target error) bool { return target == ErrSDK }

// TimeoutError means that no complete answer came in time: either within the
// client's per-request timeout (WithTimeout) or before the deadline of the
// caller's context. It wraps context.DeadlineExceeded or the transport's own
// timeout error. A timed-out request is not retried: the service may still
// be working on it, and the caller's time is already spent.
type TimeoutError struct {
	Method string
	URL    string
	Err    error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timers: %s %s: timed out: %v", e.Method, e.URL, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Is makes every *TimeoutError match ErrSDK.
func (e *TimeoutError) Is(target error) bool { return target == ErrSDK }

// Timeout reports true, as net.Error does for timeouts.
func (e *TimeoutError) Timeout() bool { return true }

// sdkError wraps a failure the package detected itself (a bad argument, an
// answer it cannot read) so that it matches ErrSDK.
func sdkError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSDK}, args...)...)
}

// codeForStatus is the code of an error answer without a readable body.
func codeForStatus(status int) ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidArgument
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeAlreadyExists
	case http.StatusPreconditionFailed:
		return CodePreconditionFailed
	case http.StatusRequestEntityTooLarge:
		return CodePayloadTooLarge
	// A proxy in front of the service answers 502 or 504 when the service
	// is away: the same condition as the service's own 503.
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return CodeUnavailable
	}

	if status >= 500 {
		return CodeInternal
	}

	return CodeUnknown
}

// newError builds the *Error of an answer with the given status and body.
func newError(status int, body []byte, header http.Header) *Error {
	var envelope struct {
		Error *wireError `json:"error"`
	}
	// A body that is not the contract's leaves the status to go by.
	if json.Unmarshal(body, &envelope) != nil {
		envelope.Error = nil
	}

	apiErr := errorFromWire(status, envelope.Error)
	if header != nil {
		apiErr.RetryAfter, _ = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}

	return apiErr
}

// errorFromWire builds the *Error of an error object, nil when the answer
// had none, that came with the given status.
func errorFromWire(status int, wire *wireError) *Error {
	apiErr := &Error{StatusCode: status, Details: map[string]any{}}
	if wire != nil {
		fillError(apiErr, wire)
	}

	if apiErr.Code == "" {
		apiErr.Code = codeForStatus(status)
	}

	if apiErr.Message == "" {
		apiErr.Message = fmt.Sprintf("the service answered %d %s", status, http.StatusText(status))
	}

	return apiErr
}

// fillError copies a decoded error object into apiErr, with the typed views
// of its details.
func fillError(apiErr *Error, wire *wireError) {
	apiErr.Code = ErrorCode(wire.Code)
	apiErr.Message = wire.Message
	if len(wire.Details) == 0 {
		return
	}

	// Two decodings of one small object: a generic map for Details, and the
	// typed fields the SDK knows how to read.
	_ = json.Unmarshal(wire.Details, &apiErr.Details)
	if apiErr.Details == nil {
		apiErr.Details = map[string]any{}
	}

	var known struct {
		Fields   []wireFieldViolation `json:"fields"`
		Existing *wireTimer           `json:"existing"`
	}
	if json.Unmarshal(wire.Details, &known) != nil {
		return
	}

	for _, field := range known.Fields {
		apiErr.Fields = append(apiErr.Fields, FieldViolation(field))
	}

	if known.Existing != nil {
		if timer, err := known.Existing.toTimer(); err == nil {
			apiErr.Existing = timer
		}
	}
}
